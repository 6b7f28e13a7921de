"""The peer for bench/serve.sh: scikit-learn's logistic regression on TF-IDF word 1-2-grams of
the SMS spam data, behind Python's standard ThreadingHTTPServer, answering the same
POST /v1/classify body as `duet serve` ({"input": text} -> label and probabilities).
usage: /usr/bin/python3 bench/serve_peer.py SMS_FILE PORT"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

labels, texts = [], []
with open(sys.argv[1], encoding="utf-8", errors="replace") as f:
    for line in f:
        if "\t" in line:
            y, x = line.rstrip("\n").split("\t", 1)
            labels.append(y)
            texts.append(x)
model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), LogisticRegression(C=10, max_iter=1000))
model.fit(texts, labels)
classes = list(model.classes_)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        try:
            req = json.loads(self.rfile.read(n))
            p = model.predict_proba([req["input"]])[0]
            body = json.dumps({"label": classes[int(p.argmax())], "probabilities": dict(zip(classes, map(float, p)))})
            code = 200
        except (ValueError, KeyError, TypeError) as e:
            body, code = json.dumps({"error": {"message": str(e)}}), 400
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


srv = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), Handler)
print("listening", flush=True)
srv.serve_forever()
