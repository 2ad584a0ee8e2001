# Collects raw samples from one source (simulated sensor readings: two features and a label, with noise,
# missing values and bad rows that `clean` must drop).
import csv, json, os, random, tempfile

params = json.loads(os.environ["FLOTILLA_PARAMS"])
work = os.path.join(os.environ.get("ML_DATA_DIR", os.path.join(tempfile.gettempdir(), "flotilla-ml")), os.environ["FLOTILLA_RUN_ID"])
os.makedirs(work, exist_ok=True)
rng = random.Random(params["seed"])
rows = []
for i in range(int(params["samples_per_source"])):
    x1, x2 = rng.gauss(0, 1), rng.gauss(0, 1)
    label = 1 if 1.5 * x1 - 2.0 * x2 + 0.3 + rng.gauss(0, 0.5) > 0 else 0
    if i % 50 == 7:
        rows.append([f"{x1:.4f}", "", label])          # a missing value
    elif i % 97 == 3:
        rows.append(["n/a", f"{x2:.4f}", label])       # a bad reading
    else:
        rows.append([f"{x1:.4f}", f"{x2:.4f}", label])
path = os.path.join(work, f"raw-{params['source']}.csv")
with open(path, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["x1", "x2", "label"])
    w.writerows(rows)
print(f"collected {len(rows)} rows from source {params['source']} into {path}")
