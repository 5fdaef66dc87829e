"""The project's exception tree, rooted in the lowest layer so every layer can raise into it.

    RouterError                        root; carries ``status_code`` and OpenAI-style ``error_type``
    ├── ClassifierError                the difficulty classifier cannot be used (503)
    │   ├── EncoderUnavailableError    the packaged encoder is not installed or will not load
    │   └── ArtifactError              a stored classifier cannot be trusted or read
    │       ├── ArtifactNotFoundError  no artifact at that path or version
    │       ├── ArtifactIntegrityError sha256 differs from the manifest (tampered or truncated)
    │       └── ArtifactMismatchError  built for another encoder, dimension or format
    ├── DataError                      a user-supplied data file is unusable (400)
    │   ├── RowError                   one line of a JSONL file, with its number
    │   └── UnencodableTextError       texts the encoder cannot tokenise, by index
    └── (router.errors)                policy, request and upstream errors extend this tree

``router.errors`` draws the complete tree and is the only place that maps it to HTTP.
"""

from __future__ import annotations

from pathlib import Path


class RouterError(Exception):
    """Base of every error this project raises on purpose."""

    status_code: int = 500
    error_type: str = "server_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ClassifierError(RouterError):
    status_code = 503
    error_type = "classifier_unavailable"


class EncoderUnavailableError(ClassifierError):
    pass


class ArtifactError(ClassifierError):
    def __init__(self, path: Path | str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = Path(path)
        self.problem = problem


class ArtifactNotFoundError(ArtifactError):
    pass


class ArtifactIntegrityError(ArtifactError):
    pass


class ArtifactMismatchError(ArtifactError):
    pass


class DataError(RouterError):
    status_code = 400
    error_type = "invalid_request_error"


class RowError(DataError):
    """One line of a JSONL file is unusable; ``line`` is 1-based."""

    def __init__(self, path: Path | str, line: int, problem: str) -> None:
        super().__init__(f"{path}:{line}: {problem}")
        self.path = Path(path)
        self.line = line
        self.problem = problem


class UnencodableTextError(DataError):
    """Texts that are not valid Unicode (lone surrogates); ``problems`` maps index to why."""

    def __init__(self, problems: dict[int, str]) -> None:
        shown = "; ".join(f"text {index}: {why}" for index, why in list(problems.items())[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"cannot encode {len(problems)} of the texts: {shown}{more}")
        self.problems = dict(problems)
