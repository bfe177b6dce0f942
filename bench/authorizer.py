"""Edge authorizer benchmark: what the REQUEST authorizer adds to a request, cold and warm.

A command, not a test. API Gateway caches the authorizer's answer per token
(``AuthorizerDefinition.cache_seconds``), so a teacher's app pays the authorizer about once per
token and cache period; this measures what that one call costs on this machine:

* **cold start**: importing the handler and building the authorizer in a fresh interpreter (what a
  new Lambda instance pays before its first answer, besides the runtime's own start), against the
  grade processor's handler, the platform's other Lambda, measured the same way;
* **warm invocation**: the handler answering a real RS256 ID token (key set cached, as on a warm
  instance), against the bare signature check it is built on (``jwt.decode`` with the key in hand):
  the ratio is the handler's own overhead (claims, policy, context, logging).

It prints the figures and ratios, the projected authorizer calls per token per hour, and writes
``bench/out/authorizer.json`` and a plot ``bench/out/authorizer.png``.

    python -m bench.authorizer [--invocations 2000] [--cold 7]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, cast

import jwt
from aws_lambda_powertools.utilities.typing import LambdaContext

from luca_edge.entrypoints import authorizer as entrypoint
from luca_infra.definitions import PLATFORM_DEFINITION
from luca_platform.tokens import CognitoSettings, CognitoTokenVerifier
from luca_testing.emulator import REGION
from luca_testing.tokens import CLIENT_ID, POOL_ID, StaticJWKClient, TokenMint

OUT = Path(__file__).resolve().parent / "out"
BUDGET_MS = 120.0  # the interactive p95 target

COLD = """
import os, time
os.environ.update(LUCA_USER_POOL_ID="{pool}", LUCA_USER_POOL_CLIENT_ID="c", AWS_REGION="{region}",
                  LUCA_TABLE_NAME="t")
started = time.perf_counter()
import {module} as handler
{build}
print((time.perf_counter() - started) * 1000)
"""


def cold_ms(module: str, build: str, runs: int) -> list[float]:
    script = COLD.format(pool=POOL_ID, region=REGION, module=module, build=build)
    samples = []
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
        samples.append(float(done.stdout.strip().splitlines()[-1]))
    return samples


def event(token: str) -> dict[str, Any]:
    return {
        "type": "REQUEST",
        "methodArn": "arn:aws:execute-api:eu-west-1:123456789012:abc123/v1/GET/v1/evaluations",
        "headers": {"Authorization": f"Bearer {token}"},
        "requestContext": {"accountId": "123456789012", "apiId": "abc123", "stage": "v1"},
    }


class Context:
    function_name = "edge-authorizer"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:edge-authorizer"
    aws_request_id = "bench"


def timed(call: Any, runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": statistics.median(ordered),
        "p95_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))],
        "max_ms": ordered[-1],
    }


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (cold, warm) = plt.subplots(1, 2, figsize=(11, 4.5))
    names = ["grade processor", "edge authorizer"]
    cold.bar(names, [report["cold"]["baseline"]["median_ms"], report["cold"]["authorizer"]["median_ms"]])
    cold.set_title("cold: import + build (median ms)")
    labels = ["bare jwt.decode", "authorizer handler"]
    for index, key in enumerate(("baseline", "authorizer")):
        figures = report["warm"][key]
        warm.bar([labels[index]], [figures["p95_ms"]], label=f"{labels[index]} p95")
        warm.scatter([labels[index]], [figures["median_ms"]], color="black", zorder=3)
    warm.set_title("warm invocation (bar p95, dot median, ms)")
    fig.suptitle(f"edge authorizer, cached {report['cache_seconds']} s per token")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--invocations", type=int, default=2000)
    parser.add_argument("--cold", type=int, default=7, help="fresh interpreters per handler")
    args = parser.parse_args(argv)

    print(f"cold starts: {args.cold} fresh interpreters per handler …", flush=True)
    baseline_cold = cold_ms("luca_ingest.entrypoints.handler", "handler.app()", args.cold)
    authorizer_cold = cold_ms("luca_edge.entrypoints.authorizer", "handler.authorizer()", args.cold)

    mint = TokenMint()
    settings = CognitoSettings(REGION, POOL_ID, CLIENT_ID)
    entrypoint._authorizer = entrypoint.build(
        entrypoint.EdgeSettings(aws_region=REGION, user_pool_id=POOL_ID, user_pool_client_id=CLIENT_ID),
        verifier=CognitoTokenVerifier(settings, jwks=StaticJWKClient(mint.jwks)),
    )
    token = mint.token("bench-school", ["teachers"], username="bench-teacher")
    # Each answer still formats its log line (a cost measured here); it is written to nowhere.
    sink = open(os.devnull, "w")  # noqa: SIM115  (open for the whole run)
    handler = entrypoint.logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(sink)
    public = mint.key.public_key()
    print(f"warm: {args.invocations} invocations each …", flush=True)
    # Interleaved rounds, so machine noise falls on both alike.
    bare: list[float] = []
    handled: list[float] = []
    rounds = 10
    for _ in range(rounds):
        bare += timed(
            lambda: jwt.decode(
                token, public, algorithms=["RS256"], audience=CLIENT_ID, issuer=settings.issuer
            ),
            args.invocations // rounds,
        )
        handled += timed(
            lambda: entrypoint.handler(event(token), cast(LambdaContext, Context())),
            args.invocations // rounds,
        )

    cache_seconds = PLATFORM_DEFINITION.authorizer.cache_seconds
    report: dict[str, Any] = {
        "cache_seconds": cache_seconds,
        "calls_per_token_hour": 3600 / cache_seconds,
        "cold": {"baseline": summary(baseline_cold), "authorizer": summary(authorizer_cold)},
        "warm": {"baseline": summary(bare), "authorizer": summary(handled)},
    }
    cold_ratio = report["cold"]["authorizer"]["median_ms"] / report["cold"]["baseline"]["median_ms"]
    warm_ratio = report["warm"]["authorizer"]["median_ms"] / report["warm"]["baseline"]["median_ms"]
    report["ratios"] = {"cold_vs_grade_processor": cold_ratio, "warm_vs_bare_decode": warm_ratio}
    cold_a, cold_b = report["cold"]["authorizer"], report["cold"]["baseline"]
    warm_a, warm_b = report["warm"]["authorizer"], report["warm"]["baseline"]
    print(
        f"cold start (import + build, median): authorizer {cold_a['median_ms']:.0f} ms, "
        f"grade processor {cold_b['median_ms']:.0f} ms ({cold_ratio:.2f}x)"
    )
    print(
        f"warm invocation: authorizer median {warm_a['median_ms']:.3f} ms p95 {warm_a['p95_ms']:.3f} ms; "
        f"bare RS256 decode median {warm_b['median_ms']:.3f} ms ({warm_ratio:.2f}x)"
    )
    print(
        f"cached {cache_seconds} s per token: {report['calls_per_token_hour']:.0f} authorizer calls per "
        f"token and hour; a miss adds about {warm_a['p95_ms']:.2f} ms (p95) to a {BUDGET_MS:.0f} ms budget "
        f"when warm, plus the cold start above on a new instance"
    )
    OUT.mkdir(exist_ok=True)
    (OUT / "authorizer.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(report, OUT / "authorizer.png")
    print(f"wrote {OUT / 'authorizer.json'} and {OUT / 'authorizer.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
