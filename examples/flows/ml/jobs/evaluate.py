# Scores the model on the held-out test set, writes metrics.json, and fails the task when the accuracy is
# below params.min_accuracy (so a bad model fails the run and notifies).
import csv, json, math, os, tempfile

params = json.loads(os.environ["FLOTILLA_PARAMS"])
work = os.path.join(os.environ.get("ML_DATA_DIR", os.path.join(tempfile.gettempdir(), "flotilla-ml")), os.environ["FLOTILLA_RUN_ID"])
with open(os.path.join(work, "model.json")) as f:
    model = json.load(f)
with open(os.path.join(work, "test.csv"), newline="") as f:
    test = [([float(r[0]), float(r[1])], int(r[2])) for r in list(csv.reader(f))[1:]]
tp = fp = tn = fn = 0
for x, y in test:
    z = model["bias"] + sum(w * v for w, v in zip(model["weights"], x))
    p = 1 / (1 + math.exp(-max(-30.0, min(30.0, z)))) >= 0.5
    if p and y == 1: tp += 1
    elif p: fp += 1
    elif y == 0: tn += 1
    else: fn += 1
acc = (tp + tn) / len(test)
metrics = {"accuracy": acc, "precision": tp / max(1, tp + fp), "recall": tp / max(1, tp + fn), "test_rows": len(test)}
with open(os.path.join(work, "metrics.json"), "w") as f:
    json.dump(metrics, f)
print(f"test accuracy {acc:.3f} precision {metrics['precision']:.3f} recall {metrics['recall']:.3f} on {len(test)} rows")
if acc < float(params["min_accuracy"]):
    raise SystemExit(f"accuracy {acc:.3f} is below {params['min_accuracy']}")
