# Writes the same features for every tool as LIBSVM files (train and test), so that duet,
# LIBLINEAR and scikit-learn are timed on identical inputs:
#   sms   : SMS Spam Collection, every fifth message held out; TF-IDF word 1-2-grams (+ counts)
#   20ng  : 20 Newsgroups bydate (from the tar.gz); TF-IDF word 1-2-grams, min_df 2 (+ counts)
#   fmnist: Fashion-MNIST train/t10k; pixels / 255
# usage: /usr/bin/python3 bench/features.py OUTDIR SHARED_DATA
import gzip, os, sys, tarfile
import numpy as np
from sklearn.datasets import dump_svmlight_file
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

out, shared = sys.argv[1], sys.argv[2]

def text_set(name, xtr, ytr, xte, yte, min_df):
    for kind, vec in (("tfidf", TfidfVectorizer(ngram_range=(1, 2), min_df=min_df)),
                      ("counts", CountVectorizer(ngram_range=(1, 2), min_df=min_df))):
        a = vec.fit_transform(xtr)
        b = vec.transform(xte)
        dump_svmlight_file(a, ytr, f"{out}/{name}-{kind}.train.svm", zero_based=False)
        dump_svmlight_file(b, yte, f"{out}/{name}-{kind}.test.svm", zero_based=False)

lines = open("data/sms_spam/SMSSpamCollection", encoding="utf-8", errors="replace").read().splitlines()
lab = [l.split("\t", 1)[0] == "spam" for l in lines]
txt = [l.split("\t", 1)[1] for l in lines]
tr = [i for i in range(len(lines)) if (i + 1) % 5 != 0]
te = [i for i in range(len(lines)) if (i + 1) % 5 == 0]
text_set("sms", [txt[i] for i in tr], [int(lab[i]) for i in tr], [txt[i] for i in te], [int(lab[i]) for i in te], 1)

tgz = f"{shared}/20newsgroups/20news-bydate.tar.gz"
if os.path.exists(tgz):
    parts = {"train": ([], []), "test": ([], [])}
    groups = {}
    with tarfile.open(tgz) as t:
        for m in t.getmembers():
            p = m.name.split("/")
            if not m.isfile() or len(p) != 3:
                continue
            split = "train" if p[0].endswith("train") else "test"
            g = groups.setdefault(p[1], len(groups))
            parts[split][0].append(t.extractfile(m).read().decode("latin-1"))
            parts[split][1].append(g)
    text_set("20ng", *parts["train"], *parts["test"], 2)

fm = f"{shared}/fashion_mnist"
if os.path.exists(f"{fm}/train-images-idx3-ubyte.gz"):
    for split, pre in (("train", "train"), ("test", "t10k")):
        x = np.frombuffer(gzip.open(f"{fm}/{pre}-images-idx3-ubyte.gz").read()[16:], np.uint8).reshape(-1, 784) / 255.0
        y = np.frombuffer(gzip.open(f"{fm}/{pre}-labels-idx1-ubyte.gz").read()[8:], np.uint8)
        dump_svmlight_file(x, y, f"{out}/fmnist.{split}.svm", zero_based=False)
