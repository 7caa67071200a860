-- wrk script: the same POST voxload sends for the text "Hi." (keys in the
-- order serde_json writes them). Keep in sync with BODY in bench/bench.py.
wrk.method = "POST"
wrk.body = '{"input":"Hi.","model":"tts-1","response_format":"wav","voice":"alloy"}'
wrk.headers["Content-Type"] = "application/json"
