import json, os
print(json.dumps({"rows": 3, "logical_time": os.environ.get("FLOTILLA_LOGICAL_TIME")}))
