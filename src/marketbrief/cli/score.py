"""`score`: read headlines on standard input and print how a run would read each one.

Each line goes through `analyse_symbol` with the models a run builds (`models_from`), or with
the one model `--model` names, so what it prints is what a report would say of a symbol with
that one headline. Lines stream: each answer is written (and flushed) before the next line is
read, so input of any length runs in constant memory. An empty line gets an empty answer.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO, Any

import click
import orjson

from marketbrief.calendar import utc_now
from marketbrief.cli.common import exits_cleanly, settings_from
from marketbrief.pipeline.analysis import analyse_symbol
from marketbrief.pipeline.feeds import llm_from, models_from
from marketbrief.pipeline.models import MODELS, headline_model
from marketbrief.pipeline.news import Article
from marketbrief.pipeline.sentiment import SentimentModel

LLM = "llm"


async def score_line(text: str, symbol: str, models: Sequence[SentimentModel]) -> dict[str, Any]:
    """One line's answer: {"text", "direction", "score", "confidence", "model"} (+ "error")."""
    names = "+".join(m.name for m in models)
    if not text.strip():
        return {"text": text, "direction": None, "score": None, "confidence": None, "model": names}
    article = Article(text.strip(), "", "stdin", None, utc_now())
    prediction = (await analyse_symbol(symbol, [article], models)).prediction
    answer: dict[str, Any] = {
        "text": article.title,
        "direction": None if prediction.confidence is None else prediction.direction.value,
        "score": prediction.sentiment_score,
        "confidence": prediction.confidence,
        "model": prediction.model,
    }
    if prediction.error is not None:
        answer["error"] = prediction.error
    return answer


async def score_lines(
    lines: Iterable[str],
    symbol: str,
    models: Sequence[SentimentModel],
    write: Callable[[dict[str, Any]], None],
) -> None:
    """Score each line and hand its answer to `write` before reading the next."""
    for line in lines:
        write(await score_line(line, symbol, models))


def decoded(stream: IO[bytes]) -> Iterator[str]:
    """The stream's lines as text (bad UTF-8 replaced, not fatal), without line endings."""
    for raw in stream:
        yield raw.decode("utf-8", errors="replace").rstrip("\r\n")


@click.command()
@click.option(
    "--model",
    "model_name",
    type=click.Choice([*MODELS, LLM]),
    help="One model instead of the configured ones (llm: MARKETBRIEF_LLM_URL and _MODEL).",
)
@click.option("--symbol", default="", help="The stock the headlines are about (the LLM is told).")
@click.option("--json", "as_json", is_flag=True, help="JSON lines even on a terminal.")
@click.pass_context
@exits_cleanly
def score(ctx: click.Context, model_name: str | None, symbol: str, as_json: bool) -> None:
    """Score headlines from standard input, one a line, as a run would read each one."""
    settings = settings_from(ctx)
    if model_name is None:
        models: list[SentimentModel] = models_from(settings)
    elif model_name == LLM:
        models = [llm_from(settings)]
    else:
        models = [headline_model(model_name)]
    out = sys.stdout
    table = not as_json and out.isatty()
    if table:
        click.echo(f"{'direction':<10}{'score':>8}{'confidence':>12}  text")

    def write(answer: dict[str, Any]) -> None:
        if table:
            click.echo(_row(answer))
        else:
            out.write(orjson.dumps(answer).decode() + "\n")
            out.flush()

    asyncio.run(score_lines(decoded(sys.stdin.buffer), symbol, models, write))


def _row(answer: dict[str, Any]) -> str:
    def number(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    direction = answer["direction"] or "-"
    text = answer["text"] if "error" not in answer else f"{answer['text']}  ({answer['error']})"
    return f"{direction:<10}{number(answer['score']):>8}{number(answer['confidence']):>12}  {text}"


COMMANDS = (score,)
