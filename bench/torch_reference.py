"""The PyTorch side of bench/side_by_side.sh: transformers + PEFT on the workloads of
tunebench's `train_step` and `generate` benches, on the same model shape with random weights.

- LoRA training: SmolLM2-135M's shape (30 layers, hidden 576, 9 heads / 3 KV heads,
  intermediate 1536, tied embeddings) with a VOCAB-token vocabulary; PEFT LoRA r=8, alpha 16,
  no dropout, on q/k/v/o; AdamW (lr 1e-4, weight decay 0.01); one 4 x 128 batch of the same
  synthetic ids as the Rust bench, every token after the first a target; f32. Seconds per
  optimizer step over 4 steps after a warm-up step, with the forward / backward split.
- Prompt processing: one forward over a [batch, 32] prompt (best of 3), batch 1 and 8.
- Greedy generation: 48 new tokens after the 32-token prompt with the KV cache, no EOS stop;
  tokens/s over the time after prefill, as the Rust bench counts it.

Prints one `result KEY VALUE` line per figure (read by bench/side_by_side.py), the peak RSS
of the process and the versions it ran with. For the GPU check (scripts/gpu-check.sh),
TORCH_REF_DEVICE (default cpu, e.g. cuda), TORCH_REF_DTYPE (float32 or bfloat16: the base model
in that type; PEFT keeps the LoRA weights in float32) and TORCH_REF_BATCH
(ROWSxSEQ, default 4x128) change the training workload; on CUDA the peak GPU memory is
printed too. Training and generation run in separate
processes, as the two Rust benches do. Usage: python bench/torch_reference.py train|generate VOCAB
"""

import os
import resource
import sys
import time

import peft
import torch
import transformers
from transformers import LlamaConfig, LlamaForCausalLM

STEPS = 4


def shape(vocab: int) -> LlamaConfig:
    return LlamaConfig(
        hidden_size=576,
        intermediate_size=1536,
        num_hidden_layers=30,
        num_attention_heads=9,
        num_key_value_heads=3,
        head_dim=64,
        vocab_size=vocab,
        max_position_embeddings=2048,
        rms_norm_eps=1e-5,
        rope_theta=100000.0,
        tie_word_embeddings=True,
        hidden_act="silu",
        bos_token_id=1,
        eos_token_id=2,
    )


def synthetic_ids(rows: int, seq: int) -> torch.Tensor:
    """The Rust bench's ids (train/benches/common/mod.rs)."""
    return torch.tensor(
        [[(r * 7919 + i * 104_729) % 8189 + 3 for i in range(seq)] for r in range(rows)]
    )


def train(vocab: int) -> None:
    torch.manual_seed(0)
    device = os.environ.get("TORCH_REF_DEVICE", "cpu")
    dtype = getattr(torch, os.environ.get("TORCH_REF_DTYPE", "float32"))
    rows, seq = (int(n) for n in os.environ.get("TORCH_REF_BATCH", "4x128").split("x"))
    model = LlamaForCausalLM(shape(vocab)).to(device=device, dtype=dtype)
    lora = peft.LoraConfig(
        r=8,
        lora_alpha=16,
        lora_dropout=0.0,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
        task_type="CAUSAL_LM",
    )
    model = peft.get_peft_model(model, lora)
    model.train()
    opt = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=1e-4, weight_decay=0.01
    )
    ids = synthetic_ids(rows, seq).to(device)

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    def step() -> None:
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(
            [p for p in model.parameters() if p.requires_grad], 1.0
        )
        opt.step()
        opt.zero_grad(set_to_none=True)

    step()  # warm-up
    sync()
    started = time.perf_counter()
    for _ in range(STEPS):
        step()
    sync()
    per_step = (time.perf_counter() - started) / STEPS
    fwd = bwd = 0.0
    for _ in range(2):
        t0 = time.perf_counter()
        loss = model(input_ids=ids, labels=ids).loss
        sync()
        t1 = time.perf_counter()
        loss.backward()
        sync()
        t2 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        fwd += (t1 - t0) / 2
        bwd += (t2 - t1) / 2
    print(f"result train_s_per_step {per_step:.4f}")
    print(f"result train_tokens_per_s {rows * seq / per_step:.2f}")
    if device.startswith("cuda"):
        print(f"result train_peak_gpu_mib {torch.cuda.max_memory_allocated() / 2**20:.0f}")
    print(f"result train_forward_s {fwd:.4f}")
    print(f"result train_backward_s {bwd:.4f}")


@torch.inference_mode()
def generate(vocab: int) -> None:
    torch.manual_seed(0)
    model = LlamaForCausalLM(shape(vocab)).eval()
    prompt_len, new_tokens = 32, 48
    for batch in (1, 8):
        ids = torch.tensor(
            [[(b * 131 + i * 17) % 8000 + 3 for i in range(prompt_len)] for b in range(batch)]
        )
        prefill = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            model(input_ids=ids)
            prefill = min(prefill, time.perf_counter() - t0)
        t0 = time.perf_counter()
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            do_sample=False,
            eos_token_id=None,
            pad_token_id=0,
        )
        total = time.perf_counter() - t0
        generated = (out.shape[1] - prompt_len) * batch
        print(f"result prompt_tokens_per_s_b{batch} {batch * prompt_len / prefill:.2f}")
        print(f"result gen_tokens_per_s_b{batch} {generated / max(total - prefill, 1e-9):.2f}")


def main() -> None:
    work, vocab = sys.argv[1], int(sys.argv[2])
    torch.set_num_threads(os.cpu_count() or 1)
    print(
        f"torch {torch.__version__}, transformers {transformers.__version__}, "
        f"peft {peft.__version__}, {torch.get_num_threads()} threads, vocab {vocab}"
    )
    {"train": train, "generate": generate}[work](vocab)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"result {work}_peak_rss_mib {peak:.0f}")


if __name__ == "__main__":
    main()
