"""A stand-in for csdclip_cli.rewrite.llm_worker that misbehaves on request.

Usage: python llm_worker.py MODE, MODE one of
  ok          answers every request like a working model (a fixed plan)
  segv        loads, then dies by SIGSEGV on the first generation (a native build on the wrong CPU)
  segv-later  answers the first generation, dies by SIGSEGV on the second
  hang        loads, then never answers a generation
  loadfail    refuses to load the model
  garbage     prints a non-JSON line instead of a reply
"""

import json
import os
import signal
import sys
import time

mode = sys.argv[1]
PLAN = {"optimized": "a red car", "and": ["a red car"], "not": [], "or": []}
generations = 0
for line in sys.stdin:
    req = json.loads(line)
    op = req["op"]
    if op == "info":
        reply = {"ok": True, "version": "fake", "system_info": "AVX = 1 | AVX2 = 1 | AVX512 = 0 |"}
    elif op == "load":
        reply = (
            {"ok": False, "error": "failed to load model: bad magic"}
            if mode == "loadfail"
            else {"ok": True, "chat": False, "n_ctx": 2048, "n_ctx_train": 32768}
        )
    elif op == "generate":
        generations += 1
        if mode == "segv" or (mode == "segv-later" and generations > 1):
            os.kill(os.getpid(), signal.SIGSEGV)
        if mode == "hang":
            time.sleep(3600)
        if mode == "garbage":
            print("Fatal: not json", flush=True)
            continue
        reply = {"ok": True, "text": json.dumps(PLAN), "prompt_tokens": 10}
    else:
        reply = {"ok": False, "error": "unknown op"}
    print(json.dumps(reply), flush=True)
