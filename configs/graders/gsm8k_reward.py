"""Reward function for GSM8K reinforcement fine-tuning: the Lambda a Bedrock RFT job calls,
and the grader tunebench runs locally (`[[graders]] lambda = "graders/gsm8k_reward.py"`).

Event: a list of samples {"id", "messages": [..., {"role": "assistant", "content": ANSWER}],
"reference_answer": {"answer": "#### 18"} or "18" or 18}. Returns, per sample,
{"id", "aggregate_reward_score", "metrics_list": [...]}:
  1.0  the final number after "####" equals the reference's final number;
  0.2  "####" is there but the number is wrong (the format is learned);
  0.0  no "####" (the format the answer must end with is missing).
A sample it cannot read gets the neutral reward 0.0 with an `error` metric of 1, as AWS
advises, instead of failing the whole batch.
"""

import re

NUMBER = re.compile(r"-?[\d,]*\.?\d+")


def final_number(text):
    """The number after the last '####' (commas and a trailing '.' dropped), or None."""
    if "####" not in text:
        return None
    tail = text.rsplit("####", 1)[1]
    match = NUMBER.search(tail)
    if not match:
        return None
    return match.group(0).replace(",", "").rstrip(".")


def reference_number(reference):
    if isinstance(reference, dict):
        reference = reference.get("answer", "")
    if isinstance(reference, (int, float)):
        return str(reference)
    text = str(reference)
    return final_number(text) if "####" in text else text.strip().replace(",", "")


def same(a, b):
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return a == b


def grade(sample):
    answer = sample["messages"][-1]["content"]
    expected = reference_number(sample["reference_answer"])
    got = final_number(answer)
    if got is None:
        reward, fmt = 0.0, 0.0
    elif same(got, expected):
        reward, fmt = 1.0, 1.0
    else:
        reward, fmt = 0.2, 1.0
    return {
        "id": sample["id"],
        "aggregate_reward_score": reward,
        "metrics_list": [
            {"name": "correct", "value": 1.0 if reward == 1.0 else 0.0, "type": "Reward"},
            {"name": "format", "value": fmt, "type": "Metric"},
        ],
    }


def lambda_handler(event, context):
    grades = []
    for sample in event:
        try:
            grades.append(grade(sample))
        except (KeyError, IndexError, TypeError):
            grades.append({
                "id": sample.get("id", ""),
                "aggregate_reward_score": 0.0,
                "metrics_list": [{"name": "error", "value": 1.0, "type": "Metric"}],
            })
    return grades
