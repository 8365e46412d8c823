"""The base of every asset Config: a bad value fails the step at once, naming the field and the value,
before any work starts and without retries (a retry policy would otherwise repeat a config error)."""

import dagster as dg
import pydantic

from corpus.validation import describe


class ValidatedConfig(dg.Config):
    @pydantic.model_validator(mode="wrap")
    @classmethod
    def _fail_without_retries(cls, data, handler):
        try:
            return handler(data)
        except pydantic.ValidationError as exc:
            raise dg.Failure(description=describe(exc, f"{cls.__name__} (run config)"), allow_retries=False) from exc
