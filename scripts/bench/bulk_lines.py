#!/usr/bin/env python3
"""Writes N NDJSON lines for POST /v1/matches/bulk to stdout: a quarter each of valid
Swedish personal numbers (random birth dates 1940-2005, Luhn check digit), Swedish mobile
numbers, e-mail addresses and device ids, each with a reference. Deterministic (seeded)."""
import json
import random
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
rng = random.Random(2026)


def luhn_digit(nine):
    total = 0
    for i, ch in enumerate(nine):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


def personal_number():
    year = rng.randint(1940, 2005)
    month = rng.randint(1, 12)
    day = rng.randint(1, 28)
    serial = rng.randint(1, 999)
    nine = f"{year % 100:02d}{month:02d}{day:02d}{serial:03d}"
    return f"{year}{month:02d}{day:02d}-{serial:03d}{luhn_digit(nine)}"


out = sys.stdout
for i in range(n):
    k = i % 4
    if k == 0:
        kind, value = "se_personal_number", personal_number()
    elif k == 1:
        kind, value = "phone", f"+4670{rng.randint(0, 9_999_999):07d}"
    elif k == 2:
        kind, value = "email", f"customer{i}@example.se"
    else:
        kind, value = "device_id", f"dev-{rng.getrandbits(64):016x}"
    out.write(json.dumps({"ref": f"c{i}", "kind": kind, "value": value}) + "\n")
