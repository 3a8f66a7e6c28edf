"""Lost-in-Conversation records: validation, loaders (local files, the Hugging Face hub, the built-in set), personas."""

from intent_mediator.data.loaders import load_hf, load_records
from intent_mediator.data.personas import PERSONAS, Persona, get_persona
from intent_mediator.data.records import Instruction, RecordError, Shard, validate_record
from intent_mediator.data.splits import load_split

__all__ = [
    "PERSONAS",
    "Instruction",
    "Persona",
    "RecordError",
    "Shard",
    "get_persona",
    "load_hf",
    "load_records",
    "load_split",
    "validate_record",
]
