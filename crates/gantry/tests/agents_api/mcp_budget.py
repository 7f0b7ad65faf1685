"""Calls one MCP tool through `gantry mcp` (stdio) with the official MCP Python SDK and
prints the result as one JSON line: {"is_error", "structured"}.

Driven by crates/gantry/tests/agents_api/budgets.rs, to see a refusal over a role's budget
as an MCP agent gets it.
"""

import argparse
import asyncio
import json

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gantry", required=True)
    ap.add_argument("--project", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--tool", required=True)
    ap.add_argument("--args", default="{}")
    ap.add_argument("--meta", default=None, help="the tool call's _meta, as JSON")
    a = ap.parse_args()
    params = StdioServerParameters(command=a.gantry, args=["-C", a.project, "mcp"],
                                   env={"GANTRY_TOKEN": a.token, "PATH": "/usr/bin:/bin"})
    async with stdio_client(params) as (r, w):
        async with ClientSession(r, w) as session:
            await session.initialize()
            meta = json.loads(a.meta) if a.meta else None
            res = await session.call_tool(a.tool, json.loads(a.args), meta=meta)
            print(json.dumps({"is_error": bool(res.is_error),
                              "structured": res.structured_content}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
