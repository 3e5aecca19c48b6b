#!/usr/bin/env python3
"""Valid mobile numbers of every region libphonenumber has examples for,
the last digits varied, one E.164 number a line: the request mix for
benches/varied.lua, so no cache of earlier answers can stand in for parsing.
Usage: benches/numbers.py [count (default 5000)] > numbers.txt
Needs the `phonenumbers` package (pip install phonenumbers)."""
import random
import sys

import phonenumbers
from phonenumbers import PhoneNumberType as T

count = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
rng = random.Random(42)  # the same mix every run
examples = []
for region in sorted(phonenumbers.SUPPORTED_REGIONS):
    n = phonenumbers.example_number_for_type(region, T.MOBILE)
    if n is not None:
        examples.append(phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164))
out = []
tries = 0
while len(out) < count and tries < count * 20:
    tries += 1
    e164 = rng.choice(examples)
    varied = e164[:-3] + f"{rng.randrange(1000):03d}"
    if phonenumbers.is_valid_number(phonenumbers.parse(varied)):
        out.append(varied)
regions = {phonenumbers.region_code_for_number(phonenumbers.parse(n)) for n in out}
print(f"{len(out)} numbers of {len(regions)} regions", file=sys.stderr)
print("\n".join(out))
