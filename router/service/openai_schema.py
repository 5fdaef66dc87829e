"""The request bodies the service accepts, in OpenAI's shapes, and what passes to the upstream.

(``RouteRequest`` and ``FeedbackRequest`` are the router's own endpoints, in the same style.)

``ChatCompletionRequest`` is an OpenAI chat completion request. Its fields fall in four groups:

- **passed through** to the chosen model (``PASSED_THROUGH``): sampling, stop, seed, tools,
  response format, logprobs, user;
- **decided by the tier** and so accepted but not sent (``DECIDED_BY_TIER``): max_tokens,
  max_completion_tokens, reasoning_effort, thinking, chat_template_kwargs, extra_body;
- **kept here**: model (``auto``, a tier or a model id), messages, stream, stream_options, n
  (only 1: the tier's strategy decides how many samples are drawn) and metadata (checked, never
  forwarded: litellm reads its own routing state from a ``metadata`` argument);
- **refused**: anything that would let a client choose where traffic goes or with which
  credentials (``FORBIDDEN_FIELDS``: api_base, api_key, headers...), at the top level or inside
  extra_body or metadata, is a ``forbidden_field`` error naming it; any other unknown field is
  refused as OpenAI refuses it (``extra_forbidden``).

Validation problems surface as FastAPI's ``RequestValidationError``; the app's error handler
turns them into 400s whose ``param`` names the field (a ``forbidden_field`` error carries the
field in its ``ctx``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from records import FeedbackOutcome, Verifier

__all__ = [
    "AUTO",
    "DECIDED_BY_TIER",
    "FORBIDDEN_FIELDS",
    "PASSED_THROUGH",
    "ChatCompletionRequest",
    "FeedbackRequest",
    "RouteRequest",
    "StreamOptions",
]

AUTO: Final = "auto"
FORBIDDEN_FIELD: Final = "forbidden_field"

FORBIDDEN_FIELDS: Final = frozenset(
    {
        "api_base",
        "base_url",
        "api_key",
        "api_version",
        "azure_ad_token",
        "custom_llm_provider",
        "deployment_id",
        "extra_headers",
        "headers",
        "organization",
        "litellm_params",
        "model_list",
        "fallbacks",
        "num_retries",
        "timeout",
        "mock_response",
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
        "aws_region_name",
        "vertex_credentials",
        "vertex_project",
        "vertex_location",
    }
)
PASSED_THROUGH: Final = frozenset(
    {
        "temperature",
        "top_p",
        "stop",
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "response_format",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "user",
    }
)
DECIDED_BY_TIER: Final = frozenset(
    {
        "max_tokens",
        "max_completion_tokens",
        "reasoning_effort",
        "thinking",
        "chat_template_kwargs",
        "extra_body",
    }
)
_CHECKED_INSIDE: Final = ("extra_body", "metadata")
_ROLES: Final = ("system", "developer", "user", "assistant", "tool", "function")
MESSAGES_SCHEMA: Final[dict[str, Any]] = {
    "minItems": 1,
    "items": {
        "type": "object",
        "required": ["role"],
        "properties": {
            "role": {"enum": list(_ROLES)},
            "content": {
                "anyOf": [
                    {"type": "string"},
                    {"type": "null"},
                    {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["type"],
                            "properties": {"type": {"type": "string"}, "text": {"type": "string"}},
                            "if": {"properties": {"type": {"const": "text"}}},
                            "then": {"required": ["text"]},
                        },
                    },
                ]
            },
        },
    },
}
"""What the prompt extraction accepts (``router.decision.prompt``), for the OpenAPI document."""


def _check_text(value: Any, path: str = "") -> None:
    """Refuse text that cannot be encoded as UTF-8 (a lone surrogate such as ``\\ud800``, which
    JSON's ``\\u`` escapes can carry): the encoder, the log and the upstream could not take it."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise PydanticCustomError(
                "unencodable_text",
                "text with a lone surrogate ({char}) at character {at}: not valid Unicode,"
                " cannot be encoded as UTF-8",
                {"param": path or "body", "char": ascii(value[exc.start])[1:-1], "at": exc.start},
            ) from None
    elif isinstance(value, Mapping):
        for key, inner in value.items():
            _check_text(key, path)
            _check_text(inner, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for index, inner in enumerate(value):
            _check_text(inner, f"{path}[{index}]")


class _EncodableText(BaseModel):
    """A body whose every string can be encoded as UTF-8 (checked before anything else)."""

    @model_validator(mode="before")
    @classmethod
    def _encodable(cls, data: Any) -> Any:
        _check_text(data)
        return data


def _not_null(schema: dict[str, Any], extra: dict[str, Any] | None = None) -> None:
    """The JSON schema of an optional field that may be left out but not sent as null."""
    options = [option for option in schema.pop("anyOf", []) if option != {"type": "null"}]
    if len(options) == 1:
        schema.update(options[0])
    elif options:
        schema["anyOf"] = options
    schema.pop("default", None)
    schema.update(extra or {})


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    include_usage: bool = False


class ChatCompletionRequest(_EncodableText):
    """An OpenAI chat completion request, as the router takes it."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1)
    messages: list[dict[str, Any]] = Field(json_schema_extra=MESSAGES_SCHEMA)
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int | None = Field(
        default=None, json_schema_extra={"anyOf": [{"const": 1}, {"type": "null"}]}
    )
    metadata: dict[str, str] | None = None

    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    stop: str | list[str] | None = None
    seed: int | None = None
    presence_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    frequency_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    logit_bias: dict[str, float] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    user: str | None = None

    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    reasoning_effort: str | None = None
    thinking: dict[str, Any] | None = None
    chat_template_kwargs: dict[str, Any] | None = None
    extra_body: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _refuse_steering(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            _check_fields(data, "")
            for name in _CHECKED_INSIDE:
                inner = data.get(name)
                if isinstance(inner, Mapping):
                    _check_fields(inner, f"{name}.", deep=True)
        return data

    @field_validator("n")
    @classmethod
    def _one_choice(cls, n: int | None) -> int | None:
        if n is not None and n != 1:
            raise PydanticCustomError(
                "unsupported_n",
                "n must be 1: the tier's strategy decides how many samples are drawn",
            )
        return n

    def upstream_params(self) -> dict[str, Any]:
        """The client's parameters that reach the model (the tier adds its budget)."""
        params = self.model_dump(include=set(PASSED_THROUGH), exclude_none=True)
        if self.stream and self.stream_options is not None:
            params["stream_options"] = self.stream_options.model_dump()
        return params


class RouteRequest(_EncodableText):
    """``POST /v1/route``: messages (scored as a chat request would be) or a bare text."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"oneOf": [{"required": ["messages"]}, {"required": ["text"]}]},
    )

    model: str = Field(default=AUTO, min_length=1)
    messages: list[dict[str, Any]] | None = Field(
        default=None, json_schema_extra=lambda schema: _not_null(schema, MESSAGES_SCHEMA)
    )
    text: str | None = Field(default=None, min_length=1, json_schema_extra=_not_null)

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        return _refuse_nulls(data, ("model", "messages", "text"))

    @model_validator(mode="after")
    def _one_input(self) -> RouteRequest:
        if (self.messages is None) == (self.text is None):
            raise PydanticCustomError(
                "one_input",
                "send either 'messages' or 'text', not {given}",
                {"given": "both" if self.text is not None else "neither", "param": "messages"},
            )
        return self


class FeedbackRequest(_EncodableText):
    """``POST /v1/feedback``: what came of an earlier request, named by its request id.

    Types are strict (a rating is a JSON number, ``passed`` a JSON boolean), and at least one of
    ``outcome``, ``rating`` and ``verifier`` must be given.
    """

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "anyOf": [{"required": [name]} for name in ("outcome", "rating", "verifier")]
        },
    )

    request_id: str = Field(min_length=1, max_length=200)
    outcome: FeedbackOutcome | None = Field(default=None, json_schema_extra=_not_null)
    rating: float | None = Field(
        default=None, ge=-1.0, le=1.0, allow_inf_nan=False, json_schema_extra=_not_null
    )
    verifier: Verifier | None = Field(default=None, json_schema_extra=_not_null)
    source: str | None = Field(default=None, min_length=1, max_length=200)
    # Not strict: JSON Schema counts 3.0 as an integer, so the service takes it as one too.
    step: int | None = Field(default=None, ge=0, le=64, strict=False)
    """The cascade step judged (0: the first tier tried); unset: the answer the client got."""

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        return _refuse_nulls(data, ("request_id", "outcome", "rating", "verifier"))

    @model_validator(mode="after")
    def _says_something(self) -> FeedbackRequest:
        if self.outcome is None and self.rating is None and self.verifier is None:
            raise PydanticCustomError(
                "empty_feedback",
                "feedback needs at least one of 'outcome' (success or failure), 'rating'"
                " (-1 to 1) or 'verifier' (name and passed)",
                {"param": "outcome"},
            )
        return self


def _refuse_nulls(data: Any, names: tuple[str, ...]) -> Any:
    """Refuse an explicit null where the schema has none (leave the field out instead)."""
    if isinstance(data, Mapping):
        for name in names:
            if name in data and data[name] is None:
                raise PydanticCustomError(
                    "null_field", "'{param}' must not be null: leave it out", {"param": name}
                )
    return data


def _check_fields(data: Mapping[Any, Any], prefix: str, *, deep: bool = False) -> None:
    for key, value in data.items():
        if key in FORBIDDEN_FIELDS:
            raise PydanticCustomError(
                FORBIDDEN_FIELD,
                "'{param}' is not accepted: clients cannot choose where the router sends"
                " traffic or with which credentials",
                {"param": f"{prefix}{key}"},
            )
        if deep and isinstance(value, Mapping):
            _check_fields(value, f"{prefix}{key}.", deep=True)
