"""The sentencepiece (C++) peer of `llama-ts bench`, driven over stdin/stdout one JSON line at a time.

Google's library is reached through its Python binding (Debian's python3-sentencepiece); each call is timed
inside this process with perf_counter around one list call (`sp.encode(texts)`, `sp.decode(ids)`), so neither
the pipe nor JSON is counted. The binding runs a list call on one thread (num_threads defaults to -1 only in
newer releases; it is passed as 1 when the binding accepts it).

Requests: {"cmd": "load", "model": path} | {"cmd": "corpus", "name": n, "texts": [...]}
          | {"cmd": "encode", "name": n} | {"cmd": "decode", "name": n} | {"cmd": "ids", "name": n}
Replies:  {"ok": true, ...} with "seconds" for timings and "ids" for "ids".
"""
import json
import sys
import time

import sentencepiece as spm

sp = None
corpora = {}
encoded = {}


def encode(texts):
    try:
        return sp.encode(texts, num_threads=1)
    except TypeError:
        return sp.encode(texts)


def decode(ids):
    try:
        return sp.decode(ids, num_threads=1)
    except TypeError:
        return sp.decode(ids)


for line in sys.stdin:
    req = json.loads(line)
    cmd = req["cmd"]
    if cmd == "load":
        sp = spm.SentencePieceProcessor(model_file=req["model"])
        reply = {"ok": True, "version": spm.__version__}
    elif cmd == "corpus":
        corpora[req["name"]] = req["texts"]
        encoded[req["name"]] = encode(req["texts"])
        reply = {"ok": True}
    elif cmd == "encode":
        texts = corpora[req["name"]]
        t0 = time.perf_counter()
        encode(texts)
        reply = {"ok": True, "seconds": time.perf_counter() - t0}
    elif cmd == "decode":
        ids = encoded[req["name"]]
        t0 = time.perf_counter()
        decode(ids)
        reply = {"ok": True, "seconds": time.perf_counter() - t0}
    elif cmd == "ids":
        reply = {"ok": True, "ids": encoded[req["name"]]}
    else:
        reply = {"ok": False, "error": "unknown command " + cmd}
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()
