"""The quickstart's fine-tune in Hugging Face PEFT, side by side with tunebench (issue 14).

Reads configs/quickstart.toml and its suite, and does with transformers + PEFT what
`tunebench run configs/quickstart.toml` does after `data prepare`: the same model (the
SmolLM2-135M-Instruct GGUF, which transformers de-quantises to f32 as tunebench does), the
same prepared training records (RUN_DIR/data/train.jsonl, written by the tunebench run, so
the data is byte for byte the same), the same steps, batch, sequence cut, learning rate,
warmup, cosine schedule, AdamW settings, gradient clipping and LoRA settings (rank, alpha,
modules, layers); then the validation loss per target token, and greedy answers of the base
and the tuned model to the suite's queries (the chat template with the suite's system
prompt, the first line of the reply, exact match with the intent).

What differs, by necessity: the order of the records (a seeded shuffle here, tunebench's
own seeded, length-grouped plan there) and the padding (each batch padded to its longest
record here). Both see the same number of records per step and in all.

Prints the time of each stage and in all, the accuracies, and the peak RSS. Run it through
bench/peft_quickstart.sh, after the quickstart:

    scripts/quickstart.sh && bench/peft_quickstart.sh
"""

import csv
import json
import math
import os
import random
import resource
import sys
import time
import tomllib
from pathlib import Path

import peft
import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = Path(__file__).resolve().parent.parent


def config() -> tuple[dict, dict, Path]:
    path = ROOT / "configs/quickstart.toml"
    cfg = tomllib.loads(path.read_text())
    suite_path = (path.parent / cfg["eval"]["suites"][0]).resolve()
    suite = tomllib.loads(suite_path.read_text())
    return cfg, suite, suite_path


def examples(tok, path: Path, max_len: int) -> list[tuple[list[int], list[int]]]:
    """(ids, labels) per chat record: the tokens the assistant turn adds are targets, as in
    tunebench's train/src/data.rs; cut at max_len."""
    out = []
    for line in path.read_text().splitlines():
        msgs = json.loads(line)["messages"]
        before = tok.apply_chat_template(msgs[:-1], add_generation_prompt=True, tokenize=False)
        after = tok.apply_chat_template(msgs, tokenize=False)
        b = tok(before, add_special_tokens=False)["input_ids"]
        a = tok(after, add_special_tokens=False)["input_ids"]
        assert a[: len(b)] == b, "the chat template does not render incrementally"
        labels = [-100] * len(b) + a[len(b) :]
        out.append((a[:max_len], labels[:max_len]))
    return out


def batch(rows: list, pad: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    width = max(len(ids) for ids, _ in rows)
    ids = torch.full((len(rows), width), pad)
    labels = torch.full((len(rows), width), -100)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for r, (i, l) in enumerate(rows):
        ids[r, : len(i)] = torch.tensor(i)
        labels[r, : len(l)] = torch.tensor(l)
        mask[r, : len(i)] = 1
    return ids, labels, mask


def loss_sum(model, rows: list, pad: int) -> tuple[torch.Tensor, int]:
    """Summed next-token loss over the target tokens, and their count (tunebench's loss is
    this sum over a step's targets divided by their count)."""
    ids, labels, mask = batch(rows, pad)
    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
    target = labels[:, 1:]
    loss = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), target.reshape(-1), reduction="sum"
    )
    return loss, int((target != -100).sum())


def queries(suite: dict, suite_path: Path) -> list[tuple[str, str]]:
    """The suite's (query, intent) pairs: the first `per_reference` of each intent, in file
    order, as scoring/src/suite.rs selects them."""
    per = suite.get("per_reference")
    seen: dict[str, int] = {}
    out = []
    with open((suite_path.parent / suite["data"]).resolve(), newline="") as f:
        for row in csv.DictReader(f):
            n = seen.get(row["category"], 0)
            if per is None or n < per:
                out.append((row["text"], row["category"]))
            seen[row["category"]] = n + 1
    return out


@torch.inference_mode()
def answers(model, tok, suite: dict, pairs: list, batch_size: int) -> list[str]:
    tok.padding_side = "left"
    sampling = suite.get("sampling", {})
    out = []
    for start in range(0, len(pairs), batch_size):
        prompts = [
            tok.apply_chat_template(
                [{"role": "system", "content": suite["system"]}, {"role": "user", "content": q}],
                add_generation_prompt=True,
                tokenize=False,
            )
            for q, _ in pairs[start : start + batch_size]
        ]
        enc = tok(prompts, add_special_tokens=False, return_tensors="pt", padding=True)
        gen = model.generate(
            **enc,
            max_new_tokens=sampling.get("max_tokens", 16),
            do_sample=False,
            pad_token_id=tok.pad_token_id,
            eos_token_id=tok.eos_token_id,
        )
        for row in gen[:, enc["input_ids"].shape[1] :]:
            text = tok.decode(row, skip_special_tokens=True)
            out.append(text.split("\n", 1)[0].strip())
    return out


def main() -> None:
    run_dir = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "runs/quickstart")
    cfg, suite, suite_path = config()
    train_cfg = cfg["train"]["local"]
    lora_cfg = train_cfg["lora"]
    gguf = (ROOT / "configs" / train_cfg["base_model"]).resolve()
    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(train_cfg["seed"])
    print(
        f"torch {torch.__version__}, transformers {transformers.__version__}, "
        f"peft {peft.__version__}, {torch.get_num_threads()} threads"
    )

    started = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    tok.pad_token_id = pad
    model = peft.get_peft_model(
        model,
        peft.LoraConfig(
            r=lora_cfg["r"],
            lora_alpha=lora_cfg["alpha"],
            lora_dropout=lora_cfg.get("dropout", 0.0),
            target_modules=lora_cfg["target_modules"],
            layers_to_transform=lora_cfg.get("layers_to_transform"),
            task_type="CAUSAL_LM",
        ),
    )
    max_len = train_cfg["max_seq_len"]
    train = examples(tok, run_dir / "data/train.jsonl", max_len)
    validation = examples(tok, run_dir / "data/validation.jsonl", max_len)
    loaded = time.perf_counter()

    # TUNEBENCH_MAX_STEPS overrides max_steps as it does for `tunebench run`.
    steps = int(os.environ.get("TUNEBENCH_MAX_STEPS", train_cfg["max_steps"]))
    size = train_cfg["batch_size"]
    order = list(range(len(train)))
    random.Random(train_cfg["seed"]).shuffle(order)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=train_cfg["lr"], betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    schedule = transformers.get_cosine_schedule_with_warmup(opt, train_cfg["warmup_steps"], steps)
    model.train()
    for step in range(steps):
        at = step * size % len(order)
        rows = [train[i] for i in order[at : at + size]]
        total, count = loss_sum(model, rows, pad)
        (total / count).backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        schedule.step()
        opt.zero_grad(set_to_none=True)
        if (step + 1) % 10 == 0:
            print(f"step {step + 1}: loss {total.item() / count:.4f}", flush=True)
    trained = time.perf_counter()

    model.eval()
    with torch.inference_mode():
        total, count = 0.0, 0
        for start in range(0, len(validation), size):
            s, n = loss_sum(model, validation[start : start + size], pad)
            total, count = total + s.item(), count + n
    validated = time.perf_counter()

    pairs = queries(suite, suite_path)
    batch_size = cfg["eval"]["candidates"][0].get("batch_size", 16)
    with model.disable_adapter():
        base = answers(model, tok, suite, pairs, batch_size)
    base_done = time.perf_counter()
    tuned = answers(model, tok, suite, pairs, batch_size)
    done = time.perf_counter()

    def accuracy(got: list[str]) -> float:
        return sum(a == ref for a, (_, ref) in zip(got, pairs)) / len(pairs)

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"result load_s {loaded - started:.1f}")
    print(f"result train_s {trained - loaded:.1f} ({steps} steps of {size}, {(trained - loaded) / steps:.2f} s/step)")
    print(f"result validation_s {validated - trained:.1f} (loss per target token {total / count:.4f})")
    print(f"result eval_base_s {base_done - validated:.1f}")
    print(f"result eval_tuned_s {done - base_done:.1f}")
    print(f"result total_s {done - started:.1f}")
    print(f"result base_accuracy {accuracy(base):.4f} of {len(pairs)}")
    print(f"result tuned_accuracy {accuracy(tuned):.4f} of {len(pairs)}")
    print(f"result peak_rss_mib {peak:.0f}")
    if not math.isfinite(total):
        sys.exit("validation loss is not finite")


if __name__ == "__main__":
    main()
