"""scikit-learn side of `npm run bench:accuracy`: LogisticRegression(lbfgs, C=1) on exactly the
embeddings and few-shot samples edgehead used. argv: a JSON job file. Prints JSON accuracies."""
import json
import sys
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

warnings.filterwarnings("ignore", category=ConvergenceWarning)
job = json.load(open(sys.argv[1]))
out = {}
for task in job:
    dim = task["dim"]
    xtr = np.fromfile(task["train"], dtype="<f4").reshape(-1, dim)
    xte = np.fromfile(task["test"], dtype="<f4").reshape(-1, dim)
    ytr = np.array(task["trainLabels"])
    yte = np.array(task["testLabels"])
    res = {}
    for key, idx in task["samples"].items():
        model = LogisticRegression(C=1.0, solver="lbfgs", max_iter=task.get("maxIter", 1000)).fit(xtr[idx], ytr[idx])
        res[key] = float((model.predict(xte) == yte).mean())
    out[task["name"]] = res
print(json.dumps(out))
