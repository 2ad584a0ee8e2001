# Trains a logistic regression by batch gradient descent, picks the L2 strength with the best accuracy on
# the validation set, and saves the model as JSON.
import csv, json, math, os, tempfile

work = os.path.join(os.environ.get("ML_DATA_DIR", os.path.join(tempfile.gettempdir(), "flotilla-ml")), os.environ["FLOTILLA_RUN_ID"])

def load(name):
    with open(os.path.join(work, f"{name}.csv"), newline="") as f:
        return [([float(r[0]), float(r[1])], int(r[2])) for r in list(csv.reader(f))[1:]]

def predict(w, b, x):
    z = b + sum(wi * xi for wi, xi in zip(w, x))
    return 1 / (1 + math.exp(-max(-30.0, min(30.0, z))))

def fit(data, l2, epochs=200, rate=0.5):
    w, b = [0.0, 0.0], 0.0
    for _ in range(epochs):
        gw, gb = [0.0, 0.0], 0.0
        for x, y in data:
            err = predict(w, b, x) - y
            gw = [g + err * xi for g, xi in zip(gw, x)]
            gb += err
        n = len(data)
        w = [wi - rate * (g / n + l2 * wi) for wi, g in zip(w, gw)]
        b -= rate * gb / n
    return w, b

def accuracy(w, b, data):
    return sum((predict(w, b, x) >= 0.5) == (y == 1) for x, y in data) / len(data)

train, validate = load("train"), load("validate")
best = None
for l2 in (0.0, 0.01, 0.1):
    w, b = fit(train, l2)
    acc = accuracy(w, b, validate)
    print(f"l2={l2}: validation accuracy {acc:.3f}")
    if best is None or acc > best[0]:
        best = (acc, l2, w, b)
acc, l2, w, b = best
with open(os.path.join(work, "model.json"), "w") as f:
    json.dump({"weights": w, "bias": b, "l2": l2, "validation_accuracy": acc}, f)
print(f"model: weights={[round(v, 3) for v in w]} bias={b:.3f} l2={l2}")
