"""scikit-learn side of `sdk/bench/auto.bench.ts`: the same candidate search, timed here.

argv: train.f32 labels.json dim
Cross-validates (StratifiedKFold(5)) the candidates auto tries — NearestCentroid (cosine via
unit rows, euclidean), LogisticRegression C in {0.1, 1, 10}, KNeighborsClassifier k in
{10, 5, 3, 1} — and refits the best. Prints one JSON object: seconds and the best macro-F1.
"""
import json
import sys
import time

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier, NearestCentroid
from sklearn.preprocessing import normalize

train_path, labels_path, dim = sys.argv[1:4]
x = np.fromfile(train_path, dtype="<f4").reshape(-1, int(dim))
y = np.array(json.load(open(labels_path)))
unit = normalize(x)

t = time.perf_counter()
folds = StratifiedKFold(5, shuffle=True, random_state=0)
candidates = [
    (NearestCentroid(), unit),
    (NearestCentroid(), x),
    *[(LogisticRegression(C=C, max_iter=500), x) for C in (0.1, 1, 10)],
    *[(KNeighborsClassifier(k, metric="cosine", algorithm="brute", weights="uniform" if k == 1 else "distance"), x) for k in (10, 5, 3, 1)],
]
scores = [cross_val_score(model, data, y, cv=folds, scoring="f1_macro").mean() for model, data in candidates]
best = int(np.argmax(scores))
candidates[best][0].fit(candidates[best][1], y)
print(json.dumps({"seconds": time.perf_counter() - t, "bestMacroF1": float(scores[best])}))
