"""An MCP client (official Python SDK) for mcpwall serve's aggregated endpoint: one session in
front of several servers, whose tools are named SERVER__TOOL. Prints what it saw as JSON.

Usage: aggregate_client.py URL
       aggregate_client.py --modern URL   (the SDK's `Client`, protocol 2026-07-28 without a
                                          session, against `demo` and `shadow` only)
"""

import asyncio
import json
import sys

from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from calls import call


async def main():
    out = {}
    async with streamable_http_client(sys.argv[1]) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            out["server"] = init.server_info.name
            out["instructions"] = init.instructions
            out["tools"] = sorted(t.name for t in (await session.list_tools()).tools)
            out["add"] = await call(session, "demo__add", {"a": 2, "b": 3})
            out["poisoned"] = await call(session, "demo__fetch_weather", {"city": "Paris"})
            out["shadowing"] = await call(session, "shadow__summarize", {"text": "hello"})
            out["count"] = await call(session, "shadow__word_count", {"text": "one two three"})
            out["config"] = await call(session, "demo__get_config", {"name": "prod"})
            out["unknown"] = await call(session, "nobody__add", {"a": 1, "b": 1})
            out["bare"] = await call(session, "add", {"a": 1, "b": 1})
            out["echo"] = await call(session, "everything__echo", {"message": "hi"})
            prompts = (await session.list_prompts()).prompts
            out["prompts"] = sorted(p.name for p in prompts)
            got = await session.get_prompt("everything__simple-prompt")
            out["prompt_messages"] = len(got.messages)
            resources = (await session.list_resources()).resources
            out["resources"] = len(resources)
            read = await session.read_resource(resources[0].uri)
            out["resource_read"] = len(read.contents)
            # A URI expanded from a listed template goes to the server that lists the template.
            templates = (await session.list_resource_templates()).resource_templates
            text = next(t.uri_template for t in templates if "text" in t.uri_template)
            read = await session.read_resource(text.replace("{resourceId}", "7"))
            out["template_read"] = len(read.contents)
            await session.send_ping()
            out["ping"] = True
            # An injection blocked in one server's result taints the whole session: a sink of
            # another server may not be called after it.
            out["page"] = await call(session, "demo__read_page", {"url": "https://example.com"})
            out["count_after"] = await call(session, "shadow__word_count", {"text": "a b"})
    print(json.dumps(out))


async def modern(url):
    from mcp.client.client import Client

    out = {}
    async with Client(url) as client:
        out["version"] = client.protocol_version
        out["instructions"] = client.instructions
        out["tools"] = sorted(t.name for t in (await client.list_tools()).tools)
        out["add"] = await call(client, "demo__add", {"a": 2, "b": 3})
        out["poisoned"] = await call(client, "demo__fetch_weather", {"city": "Paris"})
        out["shadowing"] = await call(client, "shadow__summarize", {"text": "hello"})
        out["count"] = await call(client, "shadow__word_count", {"text": "one two three"})
        out["region"] = await call(client, "demo__region_status", {"region": "eu-west-1"})
        out["prompts"] = sorted(p.name for p in (await client.list_prompts()).prompts)
        out["haiku"] = len((await client.get_prompt("shadow__haiku")).messages)
        try:
            await client.get_prompt("shadow__digest")
            out["digest"] = "fetched"
        except Exception as e:
            out["digest"] = getattr(getattr(e, "error", None), "code", str(e))
        # An injection blocked in one server's result taints them all: a sink of another
        # server may not be called after it.
        out["page"] = await call(client, "demo__read_page", {"url": "https://example.com"})
        out["count_after"] = await call(client, "shadow__word_count", {"text": "a b"})
    print(json.dumps(out))


if sys.argv[1] == "--modern":
    asyncio.run(modern(sys.argv[2]))
else:
    asyncio.run(main())
