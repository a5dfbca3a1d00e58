"""Security questions, kept only as a legacy recovery factor: answers are normalised (case,
accents, punctuation, spacing) and hashed with argon2id; they are never shown and never enough
on their own: recovery asks for one after the emailed code, not instead of it."""
from __future__ import annotations

import re
import unicodedata

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from services.identity.db.models import SecurityAnswer
from services.identity.domain import passwords
from services.identity.domain.time import now

QUESTIONS = (
    "What was the name of your first school?",
    "In what city did your parents meet?",
    "What was the make of your first car?",
    "What is the middle name of your oldest sibling?",
    "What was the name of the street you grew up on?",
)


def normalise(answer: str) -> str:
    text = unicodedata.normalize("NFKD", answer or "")
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = re.sub(r"['’`]", "", text)          # "Anne's" = "Annes"
    text = re.sub(r"[^\w\s]", " ", text)       # "Sainte-Anne" = "Sainte Anne"
    return re.sub(r"\s+", " ", text).strip()


def set_answer(session: Session, account_id: str, question: str, answer: str) -> None:
    if question not in QUESTIONS:
        raise ValueError("Choose one of the listed questions.")
    if len(normalise(answer)) < 3:
        raise ValueError("Give an answer of at least 3 letters or digits.")
    session.execute(delete(SecurityAnswer).where(SecurityAnswer.account_id == account_id,
                                                 SecurityAnswer.question == question))
    session.add(SecurityAnswer(account_id=account_id, question=question,
                               answer_hash=passwords.hash_password(normalise(answer)), created_at=now()))


def questions_for(session: Session, account_id: str) -> list[str]:
    return list(session.scalars(select(SecurityAnswer.question).where(SecurityAnswer.account_id == account_id)
                                .order_by(SecurityAnswer.question)))


def check(session: Session, account_id: str, question: str, answer: str) -> bool:
    row = session.get(SecurityAnswer, (account_id, question))
    return passwords.verify_or_dummy(row.answer_hash if row else None, normalise(answer))

