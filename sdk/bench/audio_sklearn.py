"""scikit-learn LogisticRegression(C=1) on FSDD embeddings written by audio.bench.ts, speaker-disjoint
(test speaker theo), k = 1/5/10 takes per digit (seeded samples, numpy) and all. Prints one table row."""
import json
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression

x = np.fromfile(sys.argv[1], dtype="<f4")
meta = json.load(open(sys.argv[2]))
x = x.reshape(-1, meta["dim"])
y = np.array(meta["labels"])
g = np.array(meta["groups"])
seeds = int(sys.argv[3])
tr, te = g != "theo", g == "theo"
xtr, ytr, xte, yte = x[tr], y[tr], x[te], y[te]
cells = []
for k in [1, 5, 10, None]:
    scores = []
    for seed in range(seeds if k else 1):
        if k:
            rng = np.random.default_rng(seed)
            idx = np.concatenate([rng.choice(np.flatnonzero(ytr == c), k, replace=False) for c in np.unique(ytr)])
        else:
            idx = np.arange(len(ytr))
        m = LogisticRegression(C=1.0, max_iter=5000).fit(xtr[idx], ytr[idx])
        scores.append((m.predict(xte) == yte).mean())
    s = np.array(scores) * 100
    cells.append(f"{s.mean():.1f} ± {s.std(ddof=1):.1f}" if k else f"{s.mean():.1f}")
print(" | ".join(cells))
