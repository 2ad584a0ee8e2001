# Merges the raw sources and drops rows with missing or non-numeric values.
import csv, glob, os, tempfile

work = os.path.join(os.environ.get("ML_DATA_DIR", os.path.join(tempfile.gettempdir(), "flotilla-ml")), os.environ["FLOTILLA_RUN_ID"])
kept, dropped = [], 0
for path in sorted(glob.glob(os.path.join(work, "raw-*.csv"))):
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            try:
                kept.append((float(row["x1"]), float(row["x2"]), int(row["label"])))
            except ValueError:
                dropped += 1
with open(os.path.join(work, "clean.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["x1", "x2", "label"])
    w.writerows(kept)
print(f"kept {len(kept)} rows, dropped {dropped}")
if not kept:
    raise SystemExit("no usable rows")
