#!/usr/bin/env python3
"""The pandas baseline of the data-prepare benchmark in BENCHMARKS.md.

`tunebench data prepare --config configs/banking77.toml` turns a customer CSV
(banking77 columns `text,category`) into train/validation/test JSONL plus
rejected.jsonl and manifest.json. This script does the same work, step by step, the
way a competent pandas user would write it: vectorised pandas (`str` accessor,
`drop_duplicates`, `groupby`) wherever pandas can, plain Python loops only where
there is no vectorised way (per-row hashing, MinHash, LSH look-ups, JSON lines).

Steps (same order as datasets/src/prepare.rs):
  1. read the CSV, count rows          6. near de-dup: datasketch MinHash + LSH at 0.9
  2. map to prompt/completion, drop    7. token counts (HF tokenizers), drop > 256
     blank text/category as `empty`    8. seeded, stratified split (10% val, 10% test)
  3. clean: NFC, controls, strip       9. leakage check against train (exact + LSH)
  4. PII redaction (9 kinds)          10. write JSONL + manifest.json atomically
  5. exact de-dup (`drop_duplicates`)

How it is run: the `bench` harness runs it next to `tunebench data prepare` on the same
CSV and compares rows/s and peak RSS. By hand:

    python3 -m venv ~/.cache/tunebench-bench-venv
    ~/.cache/tunebench-bench-venv/bin/pip install -r bench/requirements.txt
    ~/.cache/tunebench-bench-venv/bin/python bench/prepare_pandas.py INPUT.csv OUT_DIR

It prints one line `rows=<input rows> seconds=<wall> rows_per_s=<...>` on stdout and
the time of each stage (and the peak RSS) on stderr.

Written against Python 3.11, pandas 3.1.1 (no pyarrow installed, so strings are the
Python-backed `str` dtype), numpy 2.4.6, datasketch 2.0.0, tokenizers 0.23.3.

Differences from the Rust pipeline that are deliberate and do not change the amount of
work: MinHash uses datasketch's own permutations (affine32 scheme) with `zlib.crc32` as
the shingle hash (the default SHA-1 is about twice as slow here; datasketch premixes
the input hash with fmix32, so crc32 is adequate), and datasketch picks its own LSH
banding; LSH candidates are verified on the full signature (estimated Jaccard >= 0.9)
just as the Rust index does. PII redaction applies the kinds one after another in the
Rust precedence order instead of resolving overlaps between all candidates at once.
CSV line numbers are pandas index + 2 (exact unless a quoted field spans lines).
"""

import time

_T0 = time.perf_counter()

import hashlib  # noqa: E402
import ipaddress  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import zlib  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from datasketch import MinHash, MinHashLSH  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

# --- settings (configs/banking77.toml) -------------------------------------------------

PROMPT_HEAD = "Classify this online-banking request into one of 77 intents.\nRequest: "
PROMPT_TAIL = "\nIntent:"
TOKENIZER = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "tiny-llama", "model", "tokenizer.json"
)
MAX_TOKENS = 256
THRESHOLD = 0.9  # near-dup and leakage
NUM_PERM = 128
SHINGLE = 5
SEED = 7
VALIDATION = 0.1
TEST = 0.1
TOKEN_CHUNK = 8192

# --- stage timing ----------------------------------------------------------------------

_stage_start = [_T0]


def stage(name, rows=None):
    """Logs the time since the previous stage ended."""
    now = time.perf_counter()
    extra = f" ({rows} rows)" if rows is not None else ""
    print(f"stage {name:<14} {now - _stage_start[0]:8.3f}s{extra}", file=sys.stderr, flush=True)
    _stage_start[0] = now


# --- cleaning --------------------------------------------------------------------------

# Unicode general category Cc minus \t and \n (\r is folded to \n first).
CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"


def clean(s: pd.Series) -> pd.Series:
    s = s.str.strip().str.normalize("NFC")
    s = s.str.replace("\r\n", "\n", regex=False).str.replace("\r", "\n", regex=False)
    return s.str.replace(CONTROL, "", regex=True).str.strip()


# --- PII -------------------------------------------------------------------------------

KINDS = ["email", "phone", "credit_card", "ssn", "ipv4", "ipv6", "aws_access_key_id", "aws_secret_key", "iban"]
TOKEN = {
    "email": "[EMAIL]",
    "phone": "[PHONE]",
    "credit_card": "[CREDIT_CARD]",
    "ssn": "[SSN]",
    "ipv4": "[IP_ADDRESS]",
    "ipv6": "[IP_ADDRESS]",
    "aws_access_key_id": "[AWS_ACCESS_KEY_ID]",
    "aws_secret_key": "[AWS_SECRET_KEY]",
    "iban": "[IBAN]",
}

# "Not glued to a longer token": no word character before/after, and no `.`/`-` that
# joins to a letter or digit (as in 1.2.3.4.5 or 415-555-0132-7).
NL = r"(?<![A-Za-z0-9_])"
NR = r"(?![A-Za-z0-9_])"
NL_DOTDASH = NL + r"(?<![A-Za-z0-9][.-])"
NR_DOTDASH = NR + r"(?![.-][A-Za-z0-9])"
OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"

# Any row holding any kind matches this; only those rows are scanned further.
PII_PREFILTER = (
    r"@|:[0-9A-Fa-f.]*:|[0-9](?:[ .()-]{0,2}[0-9]){7,}|[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]"
    r"|[A-Z2-7]{20}|[A-Za-z0-9/+]{40}|[A-Z]{2}[0-9]{2}"
)

RE_EMAIL = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9._%+-]*[A-Za-z0-9_])?@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,63}"
)
RE_PHONE_NANP = re.compile(
    NL_DOTDASH + r"(?:\+?1[-. ]?)?(?:\([0-9]{3}\)[-. ]?|[0-9]{3}[-. ])[0-9]{3}[-. ][0-9]{4}" + NR_DOTDASH
)
RE_PHONE_INTL = re.compile(NL + r"\+[1-9](?:[-. ]?[0-9]){7,14}" + NR_DOTDASH)
RE_DIGIT_CHAIN = re.compile(r"[0-9]+(?:[ -][0-9]+)*")
RE_DIGIT_GROUP = re.compile(r"[0-9]+")
RE_SSN = re.compile(NL_DOTDASH + r"([0-9]{3})([- ])([0-9]{2})\2([0-9]{4})" + NR_DOTDASH)
RE_IPV4 = re.compile(NL + r"(?<![A-Za-z0-9]\.)" + rf"(?:{OCTET}\.){{3}}{OCTET}" + NR + r"(?!\.[A-Za-z0-9])")
RE_IPV6 = re.compile(r"[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*")
RE_AWS_KEY = re.compile(NL + r"(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z2-7]{16}" + NR)
RE_AWS_SECRET = re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])")
RE_IBAN = re.compile(NL + r"[A-Z]{2}[0-9]{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,4})?)")

WORD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
ALNUM = WORD - {"_"}


def glued_left(t: str, start: int, joiners: str) -> bool:
    if start == 0:
        return False
    c = t[start - 1]
    return c in WORD or (c in joiners and start >= 2 and t[start - 2] in ALNUM)


def glued_right(t: str, end: int, joiners: str) -> bool:
    if end >= len(t):
        return False
    c = t[end]
    return c in WORD or (c in joiners and end + 1 < len(t) and t[end + 1] in ALNUM)


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed([c for c in digits if c.isdigit()])):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def card_window_ok(t: str, window) -> bool:
    first_s, first_e = window[0]
    last_e = window[-1][1]
    n_digits = sum(e - s for s, e in window)
    if not 13 <= n_digits <= 19 or t[first_s] == "0":
        return False
    if len(window) > 1:
        sep = t[first_e]
        if first_e - first_s != 4:
            return False
        if not all(3 <= e - s <= 6 for s, e in window[1:]):
            return False
        if not all(t[e] == sep for _, e in window[:-1]):
            return False
    return luhn_ok(t[first_s:last_e])


def iban_checksum_ok(s: str) -> bool:
    compact = s.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rem = 0
    for c in compact[4:] + compact[:4]:
        if "0" <= c <= "9":
            rem = (rem * 10 + ord(c) - 48) % 97
        elif "A" <= c <= "Z":
            rem = (rem * 100 + ord(c) - 55) % 97
        else:
            return False
    return rem == 1


class Redactor:
    """`re.sub` callables for each kind; counts what they replace."""

    def __init__(self):
        self.counts = dict.fromkeys(KINDS, 0)

    def plain(self, kind):
        token = TOKEN[kind]

        def repl(m):
            self.counts[kind] += 1
            return token

        return repl

    def card(self, m):
        # Cards are whole consecutive digit groups of one chain: a single group of 13-19
        # digits, or 4 + (3..6)* digits with one repeated separator; leftmost, longest
        # first; Luhn-valid.
        t, s, e = m.string, m.start(), m.end()
        chain = m.group()
        if sum(c.isdigit() for c in chain) < 13:
            return chain
        groups = [(s + g.start(), s + g.end()) for g in RE_DIGIT_GROUP.finditer(chain)]
        left_ok = not glued_left(t, s, ".")
        right_ok = not glued_right(t, e, ".")
        last = len(groups) - 1
        spans = []
        i = 0
        while i < len(groups):
            found = None
            if i > 0 or left_ok:
                for j in range(last, i - 1, -1):
                    if (j != last or right_ok) and card_window_ok(t, groups[i : j + 1]):
                        found = j
                        break
            if found is None:
                i += 1
            else:
                spans.append((groups[i][0], groups[found][1]))
                i = found + 1
        if not spans:
            return chain
        out, pos = [], s
        for a, b in spans:
            out.append(t[pos:a])
            out.append(TOKEN["credit_card"])
            pos = b
        out.append(t[pos:e])
        self.counts["credit_card"] += len(spans)
        return "".join(out)

    def iban(self, m):
        # The whole candidate or the candidate cut at a group space: the longest that
        # ends cleanly and passes mod-97.
        t, s, e = m.string, m.start(), m.end()
        ends = [e] + [s + i for i in range(e - s - 1, -1, -1) if t[s + i] == " "]
        for end in ends:
            if not glued_right(t, end, "") and iban_checksum_ok(t[s:end]):
                self.counts["iban"] += 1
                return TOKEN["iban"] + t[end:e]
        return m.group()

    def ssn(self, m):
        area, group, serial = int(m.group(1)), int(m.group(3)), int(m.group(4))
        if area in (0, 666) or area >= 900 or group == 0 or serial == 0:
            return m.group()
        self.counts["ssn"] += 1
        return TOKEN["ssn"]

    def ipv6(self, m):
        t, s, e = m.string, m.start(), m.end()
        while s < e and t[s] == ".":
            s += 1
        while e > s and t[e - 1] == ".":
            e -= 1
        body = t[s:e]
        if body.count(":") < 2 or not any(c.isdigit() for c in body):
            return m.group()
        if glued_left(t, s, "") or glued_right(t, e, ""):
            return m.group()
        for end in (e, e - 1):
            if end == e - 1 and not (body.endswith(":") and not body.endswith("::")):
                break
            try:
                ipaddress.IPv6Address(t[s:end])
            except ValueError:
                continue
            self.counts["ipv6"] += 1
            return t[m.start() : s] + TOKEN["ipv6"] + t[end : m.end()]
        return m.group()

    def aws_secret(self, m):
        v = m.group()
        if (
            any(c.islower() for c in v)
            and any(c.isupper() for c in v)
            and any(c.isdigit() or c in "/+" for c in v)
        ):
            self.counts["aws_secret_key"] += 1
            return TOKEN["aws_secret_key"]
        return v

    def redact(self, s: pd.Series) -> pd.Series:
        """Redacts one text column; only rows the prefilter flags are touched."""
        hit = s.str.contains(PII_PREFILTER, regex=True)
        if not hit.any():
            return s
        sub = s[hit]
        # Rust precedence: checksum kinds, then strictly structured ones, then heuristics.
        # IBAN before cards: where the two overlap the IBAN is the longer span.
        sub = sub.str.replace(RE_IBAN, self.iban, regex=True)
        sub = sub.str.replace(RE_DIGIT_CHAIN, self.card, regex=True)
        sub = sub.str.replace(RE_EMAIL, self.plain("email"), regex=True)
        sub = sub.str.replace(RE_IPV6, self.ipv6, regex=True)
        sub = sub.str.replace(RE_IPV4, self.plain("ipv4"), regex=True)
        sub = sub.str.replace(RE_SSN, self.ssn, regex=True)
        sub = sub.str.replace(RE_AWS_KEY, self.plain("aws_access_key_id"), regex=True)
        sub = sub.str.replace(RE_PHONE_NANP, self.plain("phone"), regex=True)
        sub = sub.str.replace(RE_PHONE_INTL, self.plain("phone"), regex=True)
        sub = sub.str.replace(RE_AWS_SECRET, self.aws_secret, regex=True)
        s = s.copy()
        s[hit] = sub
        return s


# --- MinHash ---------------------------------------------------------------------------

# Separators for the similarity text: whitespace, control characters, ASCII punctuation
# and common Unicode punctuation; apostrophes are dropped ("don't" == "dont").
APOSTROPHES = "['\u2019\u02bc]"
SEPARATORS = (
    r"[\s\x00-\x1f\x7f-\x9f!-&(-/:-@\[-`{-~\u00a1\u00a7\u00ab\u00b6\u00b7\u00bb\u00bf"
    r"\u2010-\u2027\u2030-\u205e\u3001-\u3003\u3008-\u3011\uff01-\uff0f\uff1a-\uff20"
    r"\uff3b-\uff40\uff5b-\uff65]+"
)


def similarity_texts(prompt: pd.Series, completion: pd.Series) -> pd.Series:
    t = (prompt + "\n" + completion).str.lower()
    t = t.str.replace(APOSTROPHES, "", regex=True).str.replace(SEPARATORS, " ", regex=True)
    return t.str.strip(" ")


def shingles(text: str):
    if len(text) < SHINGLE:
        return [text.encode()]
    return [text[i : i + SHINGLE].encode() for i in range(len(text) - SHINGLE + 1)]


def best_match(lsh: MinHashLSH, sigs, sig):
    """(id, estimate) of the most similar indexed item at or above the threshold."""
    best = None
    for k in lsh.query(sig):
        j = sig.jaccard(sigs[k])
        if j >= THRESHOLD and (best is None or j > best[1] or (j == best[1] and k < best[0])):
            best = (k, j)
    return best


# --- output ----------------------------------------------------------------------------


def write_atomic(path: str, body: bytes) -> dict:
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(body)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return {"bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}


def jsonl(rows) -> bytes:
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    return "".join(dumps(r) + "\n" for r in rows).encode()


def nearest_rank(sorted_v: np.ndarray, p: float) -> int:
    n = len(sorted_v)
    return int(sorted_v[min(max(int(np.ceil(p / 100 * n)), 1), n) - 1])


def round_half_up(x: np.ndarray) -> np.ndarray:
    return np.floor(x + 0.5).astype(np.int64)


# --- the pipeline ----------------------------------------------------------------------


def main(argv):
    if len(argv) != 3:
        print("usage: prepare_pandas.py INPUT.csv OUT_DIR", file=sys.stderr)
        return 2
    src, out_dir = argv[1], argv[2]
    os.makedirs(out_dir, exist_ok=True)
    stage("imports")
    dropped = []  # DataFrames with columns line, category, reason, prompt, completion

    def drop(frame, category, reason, with_record=True):
        d = pd.DataFrame(
            {
                "line": frame["line"].to_numpy(),
                "category": category,
                "reason": reason if isinstance(reason, str) else np.asarray(reason, dtype=object),
            }
        )
        if with_record:
            d["prompt"] = frame["prompt"].to_numpy()
            d["completion"] = frame["completion"].to_numpy()
        dropped.append(d)

    # 1. Read.
    with open(src, "rb") as f:
        raw = f.read()
    input_sha = hashlib.sha256(raw).hexdigest()
    input_bytes = len(raw)
    del raw
    df = pd.read_csv(src, dtype=str, keep_default_na=False)
    n_input = len(df)
    df["line"] = df.index + 2
    text = df["text"].fillna("")
    label = df["category"].fillna("")
    stage("read", n_input)

    # 2. Map; a blank mapped column drops the record as `empty`.
    blank_text = text.str.strip() == ""
    blank_cat = label.str.strip() == ""
    if blank_text.any():
        drop(df[blank_text], "empty", "empty prompt: column `text` is blank or missing", False)
    only_cat = blank_cat & ~blank_text
    if only_cat.any():
        drop(df[only_cat], "empty", "empty completion: column `category` is blank or missing", False)
    keep = ~(blank_text | blank_cat)
    df = pd.DataFrame(
        {
            "line": df["line"][keep],
            "label": label[keep],
            "prompt": PROMPT_HEAD + text[keep] + PROMPT_TAIL,
            "completion": " " + label[keep],
        }
    )
    stage("map", len(df))

    # 3. Clean.
    df["prompt"] = clean(df["prompt"])
    df["completion"] = clean(df["completion"])
    stage("clean", len(df))

    # 4. PII (counted on every row that reaches it, as in the Rust pipeline).
    redactor = Redactor()
    df["prompt"] = redactor.redact(df["prompt"])
    df["completion"] = redactor.redact(df["completion"])
    empty = (df["prompt"] == "") | (df["completion"] == "")
    if empty.any():
        drop(df[empty], "empty", "a field is empty after cleaning")
        df = df[~empty]
    stage("pii", len(df))

    # 5. Exact duplicates: the first occurrence stays.
    dup = df.duplicated(["prompt", "completion"], keep="first")
    if dup.any():
        first_line = df.groupby(["prompt", "completion"], sort=False)["line"].transform("first")
        name = src
        drop(df[dup], "exact_duplicate", ("exact duplicate of " + name + ":" + first_line[dup].astype(str)).tolist())
        df = df.drop_duplicates(["prompt", "completion"], keep="first")
    df = df.reset_index(drop=True)
    stage("exact_dedup", len(df))

    # 6. Near duplicates: MinHash of 5-character shingles, LSH in input order.
    sim = similarity_texts(df["prompt"], df["completion"])
    sigs = list(MinHash.generator(map(shingles, sim), num_perm=NUM_PERM, seed=SEED, hashfunc=zlib.crc32))
    del sim
    stage("minhash", len(df))
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    lines = df["line"].to_numpy()
    near_rows, near_reasons, kept_rows = [], [], []
    for i, sig in enumerate(sigs):
        hit = best_match(lsh, sigs, sig)
        if hit is None:
            lsh.insert(i, sig, check_duplication=False)
            kept_rows.append(i)
        else:
            near_rows.append(i)
            near_reasons.append(f"near duplicate (Jaccard \u2248 {hit[1]:.2f}) of {src}:{lines[hit[0]]}")
    del lsh
    if near_rows:
        drop(df.iloc[near_rows], "near_duplicate", near_reasons)
    sigs = [sigs[i] for i in kept_rows]
    df = df.iloc[kept_rows].reset_index(drop=True)
    stage("near_dedup", len(df))

    # 7. Token counts, in chunks (as the Rust pipeline does), without special tokens.
    tok = Tokenizer.from_file(TOKENIZER)
    encode = getattr(tok, "encode_batch_fast", tok.encode_batch)
    counts = np.empty(len(df), dtype=np.int64)
    prompts, completions = df["prompt"].tolist(), df["completion"].tolist()
    for a in range(0, len(df), TOKEN_CHUNK):
        b = a + TOKEN_CHUNK
        p = encode(prompts[a:b], add_special_tokens=False)
        c = encode(completions[a:b], add_special_tokens=False)
        counts[a:b] = [len(x) + len(y) for x, y in zip(p, c)]
    del prompts, completions
    df["tokens"] = counts
    over = df["tokens"] > MAX_TOKENS
    n_filtered = int(over.sum())
    if n_filtered:
        drop(df[over], "filtered", (df["tokens"][over].astype(str) + f" tokens, over the limit of {MAX_TOKENS}").tolist())
        sigs = [s for s, o in zip(sigs, over.to_numpy()) if not o]
        df = df[~over].reset_index(drop=True)
    stage("tokens", len(df))

    # 8. Split: seeded hash of the record key; within each label, sorted by it and cut
    # by rank.
    seed = SEED.to_bytes(8, "little")
    sha = hashlib.sha256
    rkeys = [
        sha(b"c\x1f" + p.encode() + b"\x1f" + c.encode()).digest()[:16]
        for p, c in zip(df["prompt"], df["completion"])
    ]
    df["key"] = np.array([int.from_bytes(sha(seed + k).digest()[:8], "little") for k in rkeys], dtype=np.uint64)
    df["rkey"] = rkeys
    df["pos"] = np.arange(len(df))
    order = df.sort_values(["label", "key", "pos"], kind="stable")
    rank = order.groupby("label", sort=False).cumcount().reindex(df.index)
    size = df.groupby("label", sort=False)["label"].transform("size")
    n_test = round_half_up(size.to_numpy() * TEST)
    n_val = round_half_up(size.to_numpy() * VALIDATION)
    r = rank.to_numpy()
    df["split"] = np.where(r < n_test, "test", np.where(r < n_test + n_val, "validation", "train"))
    stage("split", len(df))

    # 9. Leakage: a validation/test record equal to, or a near duplicate of, a train record
    # moves to train.
    is_train = (df["split"] == "train").to_numpy()
    leaked = df["rkey"].isin(set(df["rkey"][is_train])).to_numpy() & ~is_train
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    with lsh.insertion_session() as session:
        for i in np.flatnonzero(is_train):
            session.insert(int(i), sigs[i], check_duplication=False)
    for i in np.flatnonzero(~is_train & ~leaked):
        if best_match(lsh, sigs, sigs[i]) is not None:
            leaked[i] = True
    del lsh, sigs
    moved = int(leaked.sum())
    df.loc[leaked, "split"] = "train"
    stage("leakage", len(df))

    # 10. Write.
    splits = {}
    for name in ["test", "train", "validation"]:
        part = df[df["split"] == name]
        body = jsonl({"prompt": p, "completion": c} for p, c in zip(part["prompt"], part["completion"]))
        w = write_atomic(os.path.join(out_dir, f"{name}.jsonl"), body)
        splits[name] = {"file": f"{name}.jsonl", "records": len(part), **w}

    rej = pd.concat(dropped, ignore_index=True) if dropped else pd.DataFrame(columns=["line", "category", "reason"])
    rej = rej.sort_values("line", kind="stable")
    has_record = "prompt" in rej.columns
    body = jsonl(
        {
            "source": f"{src}:{row.line}",
            "category": row.category,
            "reason": row.reason,
            "record": (
                {"kind": "completion", "prompt": row.prompt, "completion": row.completion}
                if has_record and isinstance(row.prompt, str)
                else None
            ),
        }
        for row in rej.itertuples(index=False)
    )
    rejected = {"file": "rejected.jsonl", "records": len(rej), **write_atomic(os.path.join(out_dir, "rejected.jsonl"), body)}

    by_cat = rej["category"].value_counts()
    c = {
        "input": n_input,
        "unreadable": 0,
        "empty": int(by_cat.get("empty", 0)),
        "pii_rejected": 0,
        "invalid_for_target": 0,
        "exact_duplicates": int(by_cat.get("exact_duplicate", 0)),
        "near_duplicates": int(by_cat.get("near_duplicate", 0)),
        "filtered": n_filtered,
        "truncated": 0,
        "kept": len(df),
    }
    c["rejected"] = c["unreadable"] + c["empty"] + c["pii_rejected"] + c["invalid_for_target"]
    c["duplicates"] = c["exact_duplicates"] + c["near_duplicates"]
    assert c["input"] == c["rejected"] + c["duplicates"] + c["filtered"] + c["kept"], c

    v = np.sort(df["tokens"].to_numpy())
    tokens = (
        {
            "count": len(v),
            "min": int(v[0]),
            "p50": nearest_rank(v, 50),
            "p90": nearest_rank(v, 90),
            "p95": nearest_rank(v, 95),
            "p99": nearest_rank(v, 99),
            "max": int(v[-1]),
            "mean": float(v.mean()),
            "total": int(v.sum()),
        }
        if len(v)
        else None
    )
    labels = df.groupby(["label", "split"]).size()
    label_table = {}
    for (lab, sp), n in labels.items():
        label_table.setdefault(lab, {})[sp] = int(n)
    manifest = {
        "tool": f"prepare_pandas.py (pandas {pd.__version__})",
        "target": "local",
        "inputs": [{"name": src, "sha256": input_sha, "bytes": input_bytes, "records": n_input}],
        "counts": c,
        "pii": {k: redactor.counts[k] for k in sorted(KINDS)},
        "tokens": tokens,
        "splits": splits,
        "labels": label_table,
        "rejected": rejected,
        "leakage": {"threshold": THRESHOLD, "moved": moved, "reported": []},
        "uploaded": [],
    }
    write_atomic(os.path.join(out_dir, "manifest.json"), (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode())
    stage("write", len(df))

    secs = time.perf_counter() - _T0
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak_mib:.0f} MiB; {c}", file=sys.stderr)
    print(f"rows={n_input} seconds={secs:.3f} rows_per_s={n_input / secs:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
