# Shuffles the clean rows (fixed seed) and writes train (70%), validate (15%) and test (15%) sets.
import csv, os, random, tempfile

work = os.path.join(os.environ.get("ML_DATA_DIR", os.path.join(tempfile.gettempdir(), "flotilla-ml")), os.environ["FLOTILLA_RUN_ID"])
with open(os.path.join(work, "clean.csv"), newline="") as f:
    rows = list(csv.reader(f))[1:]
random.Random(42).shuffle(rows)
n = len(rows)
cut1, cut2 = int(n * 0.70), int(n * 0.85)
for name, part in (("train", rows[:cut1]), ("validate", rows[cut1:cut2]), ("test", rows[cut2:])):
    with open(os.path.join(work, f"{name}.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["x1", "x2", "label"])
        w.writerows(part)
    print(f"{name}: {len(part)} rows")
