"""Each TRL export trains: SFTTrainer (with ``assistant_only_loss``, which needs the
``{% generation %}`` markers), DPOTrainer, KTOTrainer and RewardTrainer are built on the exported
``train.jsonl`` with a tiny Llama made offline from a config (random weights, datamill's shipped
tokenizer) and run one optimiser step each, for every shipped chat template."""

from __future__ import annotations


import pytest

from datamill.post.export import export_for_trainer, load_chat_template
from datamill.post.schema import kto, message, preference, sft

trl = pytest.importorskip("trl")
transformers = pytest.importorskip("transformers")
datasets = pytest.importorskip("datasets")

U, A = "user", "assistant"
SPECIALS = ["<|im_start|>", "<|im_end|>", "<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
            "<|eot_id|>", "<|user|>", "<|assistant|>", "<|system|>", "</s>", "<pad>"]


def _records(kind: str) -> list[dict]:
    qa = [("李白是谁？", "李白是唐代著名诗人，被称为“诗仙”。", "不知道。"),
          ("What is the capital of France?", "The capital of France is Paris.", "London."),
          ("1+2", "3", "4"),
          ("Name a primary colour.", "Red is a primary colour.", "Green, maybe purple."),
          ("用一句话介绍长城。", "长城是中国古代修建的军事防御工程。", "长城是一条河。"),
          ("Say hello.", "Hello!", "Goodbye.")]
    out = []
    for i, (q, good, bad) in enumerate(qa):
        if kind == "sft":
            out.append(sft(f"s{i}", [message("system", "You are helpful."), message(U, q), message(A, good)]))
        elif kind == "preference":
            out.append(preference(f"p{i}", [message(U, q)], [message(A, good)], [message(A, bad)]))
        else:
            out.append(kto(f"k{i}", [message(U, q)], [message(A, good if i % 2 else bad)], bool(i % 2)))
    return out


def _tokenizer(template_name: str):
    from transformers import PreTrainedTokenizerFast

    from datamill.post.tokenizer import PACKAGED_TOKENIZER

    t = load_chat_template(template_name)
    tok = PreTrainedTokenizerFast(tokenizer_file=str(PACKAGED_TOKENIZER), pad_token="<pad>",
                                  eos_token=t.eos_token or "<|im_end|>", bos_token=t.bos_token or None)
    tok.add_special_tokens({"additional_special_tokens": SPECIALS})
    tok.chat_template = t.source
    return tok


def _model(tok, reward: bool = False):
    from transformers import LlamaConfig, LlamaForCausalLM, LlamaForSequenceClassification

    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
                      pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                      bos_token_id=tok.bos_token_id, num_labels=1)
    return (LlamaForSequenceClassification if reward else LlamaForCausalLM)(cfg)


def _args(cls, tmp_path, **extra):
    return cls(output_dir=str(tmp_path / "run"), max_steps=1, per_device_train_batch_size=2, report_to=[],
               logging_steps=1, save_strategy="no", use_cpu=True, dataloader_num_workers=0, **extra)


def _train(trainer) -> float:
    out = trainer.train()
    assert out.global_step == 1
    return out.training_loss


def _load(folder):
    cfg = (folder / "trl_config.yaml").read_text()
    return datasets.load_dataset("json", data_files=str(folder / "train.jsonl"), split="train"), cfg


@pytest.mark.parametrize("template", ["chatml"] + [pytest.param(t, marks=pytest.mark.slow)
                                                  for t in ("llama3", "zephyr", "alpaca")])
def test_sft_export_trains_with_assistant_only_loss(tmp_path, template):
    folder = tmp_path / "sft"
    export_for_trainer(_records("sft"), folder, "trl", chat_template=template)
    ds, cfg = _load(folder)
    assert "assistant_only_loss: true" in cfg
    tok = _tokenizer(template)
    enc = tok.apply_chat_template(ds[0]["messages"], tokenize=True, return_dict=True,
                                  return_assistant_tokens_mask=True)
    mask = enc["assistant_masks"]
    assert 0 < sum(mask) < len(mask)                           # the answer, not the prompt
    answer = tok.decode([t for t, m in zip(enc["input_ids"], mask) if m])
    assert ds[0]["messages"][-1]["content"].strip() in answer
    args = _args(trl.SFTConfig, tmp_path, assistant_only_loss=True, max_length=128)
    loss = _train(trl.SFTTrainer(model=_model(tok), args=args, train_dataset=ds, processing_class=tok))
    assert loss > 0


def test_dpo_and_reward_exports_train(tmp_path):
    folder = tmp_path / "dpo"
    export_for_trainer(_records("preference"), folder, "trl")
    ds, cfg = _load(folder)
    assert "DPOTrainer" in cfg and set(ds.column_names) >= {"prompt", "chosen", "rejected"}
    tok = _tokenizer("chatml")
    args = _args(trl.DPOConfig, tmp_path, max_length=128)
    policy = _model(tok)
    ref = _model(tok)
    ref.load_state_dict(policy.state_dict())   # a reference model given, not loaded from a hub id
    _train(trl.DPOTrainer(model=policy, ref_model=ref, args=args, train_dataset=ds, processing_class=tok))
    rargs = _args(trl.RewardConfig, tmp_path, max_length=128)
    _train(trl.RewardTrainer(model=_model(tok, reward=True), args=rargs, train_dataset=ds, processing_class=tok))


def test_kto_export_trains(tmp_path):
    folder = tmp_path / "kto"
    export_for_trainer(_records("kto"), folder, "trl")
    ds, cfg = _load(folder)
    assert "KTOTrainer" in cfg and set(ds.column_names) >= {"prompt", "completion", "label"}
    tok = _tokenizer("chatml")
    args = _args(trl.KTOConfig, tmp_path, max_length=128)
    policy, ref = _model(tok), _model(tok)
    ref.load_state_dict(policy.state_dict())
    _train(trl.KTOTrainer(model=policy, ref_model=ref, args=args, train_dataset=ds, processing_class=tok))
