-- wrk script: POST one text to /v1/classify (duet serve, or bench/serve_peer.py)
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"spam","input":"WINNER!! As a valued network customer you have been selected to receive a 900 prize reward! To claim call 09061701461."}'
