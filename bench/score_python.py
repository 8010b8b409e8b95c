"""Reference scoring for eval/benches/scoring.rs: ROUGE-L (Google's rouge-score) and corpus
BLEU (sacrebleu, 13a tokenisation) over the same response/reference pairs, timed here.

Usage: score_python.py PAIRS.jsonl  (each line {"prediction": ..., "reference": ...})
Prints one JSON line: {"rougeL_f_mean", "rougeL_s", "bleu", "bleu_s"}.
"""

import json
import sys
import time

import sacrebleu
from rouge_score import rouge_scorer


def main() -> None:
    preds, refs = [], []
    with open(sys.argv[1], encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            preds.append(rec["prediction"])
            refs.append(rec["reference"])

    scorer = rouge_scorer.RougeScorer(["rougeL"])
    started = time.perf_counter()
    total = 0.0
    for p, r in zip(preds, refs):
        total += scorer.score(r, p)["rougeL"].fmeasure
    rouge_s = time.perf_counter() - started

    started = time.perf_counter()
    bleu = sacrebleu.corpus_bleu(preds, [refs]).score
    bleu_s = time.perf_counter() - started

    print(json.dumps({
        "rougeL_f_mean": total / len(preds),
        "rougeL_s": rouge_s,
        "bleu": bleu,
        "bleu_s": bleu_s,
    }))


if __name__ == "__main__":
    main()
