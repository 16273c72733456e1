#!/usr/bin/env python3
"""Derive the per-family profiles of `flowdata::synth` from real flow data.

Only summary statistics leave this script (per feature: share of zeros,
share of -1 sentinels, location and spread of log1p of the positive values,
whether the values are integers; per family: four principal directions of
the standardised log1p features; the commonest destination ports). No row
is copied. Run from the workspace root:

    python3 crates/flowdata/tools/calibrate_synth.py ../shared/data \
        > crates/flowdata/src/synth_profiles.json

Inputs: cicids2017-sample (original extraction, merged attack classes),
the original Friday file (benign), and the improved re-extraction (DDoS
rows and destination ports per family).
"""
import csv
import json
import math
import re
import sys
from collections import Counter, defaultdict

import numpy as np
from scipy.stats import norm

ROOT = sys.argv[1] if len(sys.argv) > 1 else "../shared/data"

CANONICAL = """Flow Duration|Total Fwd Packets|Total Backward Packets|Total Length of Fwd Packets|Total Length of Bwd Packets|Fwd Packet Length Max|Fwd Packet Length Min|Fwd Packet Length Mean|Fwd Packet Length Std|Bwd Packet Length Max|Bwd Packet Length Min|Bwd Packet Length Mean|Bwd Packet Length Std|Flow Bytes/s|Flow Packets/s|Flow IAT Mean|Flow IAT Std|Flow IAT Max|Flow IAT Min|Fwd IAT Total|Fwd IAT Mean|Fwd IAT Std|Fwd IAT Max|Fwd IAT Min|Bwd IAT Total|Bwd IAT Mean|Bwd IAT Std|Bwd IAT Max|Bwd IAT Min|Fwd PSH Flags|Bwd PSH Flags|Fwd URG Flags|Bwd URG Flags|Fwd Header Length|Bwd Header Length|Fwd Packets/s|Bwd Packets/s|Min Packet Length|Max Packet Length|Packet Length Mean|Packet Length Std|Packet Length Variance|FIN Flag Count|SYN Flag Count|RST Flag Count|PSH Flag Count|ACK Flag Count|URG Flag Count|CWE Flag Count|ECE Flag Count|Down/Up Ratio|Average Packet Size|Avg Fwd Segment Size|Avg Bwd Segment Size|Fwd Avg Bytes/Bulk|Fwd Avg Packets/Bulk|Fwd Avg Bulk Rate|Bwd Avg Bytes/Bulk|Bwd Avg Packets/Bulk|Bwd Avg Bulk Rate|Subflow Fwd Packets|Subflow Fwd Bytes|Subflow Bwd Packets|Subflow Bwd Bytes|Init_Win_bytes_forward|Init_Win_bytes_backward|act_data_pkt_fwd|min_seg_size_forward|Active Mean|Active Std|Active Max|Active Min|Idle Mean|Idle Std|Idle Max|Idle Min""".split("|")

# Spellings of the improved re-extraction (only those that differ after normalisation).
IMPROVED = {
    "Total Fwd Packet": "Total Fwd Packets",
    "Total Bwd packets": "Total Backward Packets",
    "Total Length of Fwd Packet": "Total Length of Fwd Packets",
    "Total Length of Bwd Packet": "Total Length of Bwd Packets",
    "Packet Length Min": "Min Packet Length",
    "Packet Length Max": "Max Packet Length",
    "CWR Flag Count": "CWE Flag Count",
    "Fwd Segment Size Avg": "Avg Fwd Segment Size",
    "Bwd Segment Size Avg": "Avg Bwd Segment Size",
    "Fwd Bytes/Bulk Avg": "Fwd Avg Bytes/Bulk",
    "Fwd Packet/Bulk Avg": "Fwd Avg Packets/Bulk",
    "Fwd Bulk Rate Avg": "Fwd Avg Bulk Rate",
    "Bwd Bytes/Bulk Avg": "Bwd Avg Bytes/Bulk",
    "Bwd Packet/Bulk Avg": "Bwd Avg Packets/Bulk",
    "Bwd Bulk Rate Avg": "Bwd Avg Bulk Rate",
    "FWD Init Win Bytes": "Init_Win_bytes_forward",
    "Bwd Init Win Bytes": "Init_Win_bytes_backward",
    "Fwd Act Data Pkts": "act_data_pkt_fwd",
    "Fwd Seg Size Min": "min_seg_size_forward",
    "Dst Port": "Destination Port",
}

FAMILY_OF_SAMPLE = {
    "BENIGN": "Benign", "DoS": "DoS", "PortScan": "PortScan", "BruteForce": "BruteForce",
    "WebAttack": "WebAttack", "Bot": "Bot", "Infiltration": "Infiltration",
}
FAMILY_OF_IMPROVED = {
    "BENIGN": "Benign", "Botnet": "Bot", "DDoS": "DDoS", "DoS_GoldenEye": "DoS", "DoS_Hulk": "DoS",
    "DoS_Slowhttptest": "DoS", "DoS_Slowloris": "DoS", "FTP-Patator": "BruteForce",
    "SSH-Patator": "BruteForce", "Infiltration": "Infiltration", "Portscan": "PortScan",
    "Web_Attack_-_Brute_Force": "WebAttack", "Web_Attack_-_SQL_Injection": "WebAttack",
    "Web_Attack_-_XSS": "WebAttack",
}
N_COMPONENTS = 4


def read(path, label_col="Label"):
    with open(path, newline="", encoding="latin-1") as fh:
        r = csv.reader(fh)
        header = [h.strip() for h in next(r)]
        header = [IMPROVED.get(h, h) for h in header]
        idx = {}
        for i, h in enumerate(header):
            idx.setdefault(h, i)  # first of a duplicated column
        li = header.index(label_col)
        for row in r:
            yield idx, row, row[li].strip()


def to_float(s):
    try:
        v = float(s)
    except ValueError:
        return math.nan
    return v


def main():
    rows = defaultdict(list)
    for idx, row, label in read(f"{ROOT}/cicids2017-sample/CICIDS2017_sample.csv"):
        rows[FAMILY_OF_SAMPLE[label]].append([to_float(row[idx[c]]) for c in CANONICAL])
    for idx, row, label in read(f"{ROOT}/cicids2017-original/Friday-WorkingHours-Afternoon-DDos.pcap_ISCX.csv"):
        rows["Benign"].append([to_float(row[idx[c]]) for c in CANONICAL])
    ports = defaultdict(Counter)
    for stem, fam in FAMILY_OF_IMPROVED.items():
        for idx, row, label in read(f"{ROOT}/cicids2017-improved/{stem}.csv"):
            ports[fam][int(float(row[idx["Destination Port"]]))] += 1
            if fam == "DDoS":
                rows["DDoS"].append([to_float(row[idx[c]]) for c in CANONICAL])

    profiles = {}
    for fam, data in sorted(rows.items()):
        x = np.array(data, dtype=np.float64)
        x = x[np.isfinite(x).all(axis=1)]
        n = len(x)
        feats = []
        logs = np.log1p(np.maximum(x, 0.0))
        for j, name in enumerate(CANONICAL):
            col = x[:, j]
            p_sentinel = float(np.mean(col == -1.0))
            p_zero = float(np.mean(col == 0.0))
            pos = col[col > 0]
            integer = bool(np.all(np.abs(col - np.round(col)) < 1e-9))
            if len(pos) >= 2:
                lp = np.log1p(pos)
                mu, sd = float(lp.mean()), float(max(lp.std(), 1e-3))
            elif len(pos) == 1:
                mu, sd = float(np.log1p(pos[0])), 1e-3
            else:
                mu, sd = 0.0, 1e-3
            # The copula draws g ~ N(0, 1) per feature; values are zero or a
            # sentinel below the threshold t and log-normal above it. Adjust
            # location and spread so that log1p(value) | g > t has mean mu, sd sd.
            p_low = min(max(p_zero + p_sentinel, 0.0), 0.999)
            t = float(norm.ppf(p_low)) if p_low > 0 else -8.0
            if p_low > 0:
                a = t
                lam = norm.pdf(a) / max(norm.sf(a), 1e-12)
                m_tr = lam
                v_tr = max(1 + a * lam - lam * lam, 1e-6)
            else:
                m_tr, v_tr = 0.0, 1.0
            scale = sd / math.sqrt(v_tr)
            loc = mu - scale * m_tr
            feats.append({
                "p_zero": round(p_zero, 6), "p_sentinel": round(p_sentinel, 6),
                "threshold": round(t, 6), "loc": round(loc, 6), "scale": round(scale, 6),
                "integer": integer,
            })
        # Principal directions of the standardised log features (correlations).
        z = logs - logs.mean(axis=0)
        sdv = z.std(axis=0)
        sdv[sdv < 1e-9] = 1.0
        z = z / sdv
        corr = (z.T @ z) / max(n - 1, 1)
        w, v = np.linalg.eigh(corr)
        order = np.argsort(w)[::-1][:N_COMPONENTS]
        load = v[:, order] * np.sqrt(np.maximum(w[order], 0))
        # Keep each feature's common variance below 0.95.
        common = (load ** 2).sum(axis=1)
        shrink = np.where(common > 0.95, np.sqrt(0.95 / np.maximum(common, 1e-12)), 1.0)
        load = load * shrink[:, None]
        top = ports[fam].most_common(8)
        total = sum(ports[fam].values())
        profiles[fam] = {
            "rows": n,
            "features": feats,
            "loadings": [[round(float(a), 5) for a in row] for row in load],
            "ports": [[p, round(c / total, 5)] for p, c in top],
        }
    json.dump({"features": CANONICAL, "components": N_COMPONENTS, "families": profiles}, sys.stdout, indent=None, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
