"""Reading a workflow's history as the Temporal server, its UI or anyone with its database
sees it: every payload, and the history's bytes outside the search attributes (which the
server must read to filter on, so they are never sealed)."""

from __future__ import annotations

from collections.abc import Iterator

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload, SearchAttributes
from temporalio.client import WorkflowHistory


def payloads_in(message: Message) -> Iterator[Payload]:
    """Every payload in a history event (or any message), however deep."""
    if isinstance(message, Payload):
        yield message
        return
    if isinstance(message, SearchAttributes):
        return
    for field, value in message.ListFields():
        if field.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        if field.message_type.GetOptions().map_entry:
            if field.message_type.fields_by_name["value"].type != FieldDescriptor.TYPE_MESSAGE:
                continue
            children = list(value.values())
        elif field.is_repeated:
            children = list(value)
        else:
            children = [value]
        for child in children:
            yield from payloads_in(child)


def bytes_without_search_attributes(history: WorkflowHistory) -> bytes:
    """The history as stored, less the search attributes."""
    stored = []
    for event in history.events:
        copy = type(event)()
        copy.CopyFrom(event)
        copy.workflow_execution_started_event_attributes.ClearField("search_attributes")
        copy.upsert_workflow_search_attributes_event_attributes.ClearField("search_attributes")
        stored.append(copy.SerializeToString())
    return b"".join(stored)
