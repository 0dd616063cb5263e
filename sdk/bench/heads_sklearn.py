"""scikit-learn side of `npm run bench:heads`: same embeddings, same settings, timed here.

argv: train.f32 train-labels.json test.f32 test-labels.json dim C tol max_iter k
Prints one JSON object: fit/predict seconds, accuracies, iterations.
"""
import json
import sys
import time

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

train_path, train_labels, test_path, test_labels, dim, C, tol, max_iter, k = sys.argv[1:10]
dim, C, tol, max_iter, k = int(dim), float(C), float(tol), int(max_iter), int(k)
xtr = np.fromfile(train_path, dtype="<f4").reshape(-1, dim)
xte = np.fromfile(test_path, dtype="<f4").reshape(-1, dim)
ytr = np.array(json.load(open(train_labels)))
yte = np.array(json.load(open(test_labels)))

t = time.perf_counter()
lr = LogisticRegression(C=C, solver="lbfgs", tol=tol, max_iter=max_iter).fit(xtr, ytr)
fit_seconds = time.perf_counter() - t
lr_accuracy = float((lr.predict(xte) == yte).mean())

knn = KNeighborsClassifier(n_neighbors=k, metric="cosine", algorithm="brute").fit(xtr, ytr)
t = time.perf_counter()
pred = knn.predict(xte)
knn_seconds = time.perf_counter() - t

print(json.dumps({"fit_seconds": fit_seconds, "iterations": int(lr.n_iter_[0]), "lr_accuracy": lr_accuracy,
                  "knn_seconds": knn_seconds, "knn_accuracy": float((pred == yte).mean()),
                  "knn_predictions": pred.tolist()}))
