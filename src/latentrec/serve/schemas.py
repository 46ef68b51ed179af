"""Request and response bodies of the HTTP service (they also make the OpenAPI docs).

Ids are JSON integers or strings, exactly as the model's ids are; a canonical decimal
string ("50") also finds an integer id. Every list in a request has a length cap and
every rating must be a finite number, so a body that passes validation is safe to hand
to the model (the route then checks each rating against the model's rating range).

Bodies are validated strictly: ``"n": true`` or ``"n": "5"`` is an error, not 1 or 5, and
a flag takes only ``true`` or ``false``. A rating may still be written as an integer (5),
and an integer with a zero fraction (5.0): JSON has one kind of number, and JSON Schema's
``integer`` (what the OpenAPI description says) takes 5.0 too.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, StrictStr

MAX_ID_LENGTH = 200
MAX_PAIRS = 1000
MAX_FOLD_IN = 1000


def _whole(value):
    """A JSON number without a fraction (5.0) as the integer it is; anything else as given,
    for the strict check (so 5.5, "5" and true stay errors)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# The validator goes last, around the whole type: placed before a Field, pydantic writes the
# Field's bounds into the schema as "ge" (no JSON Schema keyword), and inside the union it
# would add its own name to an error's loc.
Whole = BeforeValidator(_whole)
RawId = Annotated[StrictInt | Annotated[StrictStr, Field(min_length=1,
                                                          max_length=MAX_ID_LENGTH)], Whole]
Rating = Annotated[float, Field(strict=True, allow_inf_nan=False)]


class _Body(BaseModel):
    # a misspelt field is an error, not ignored; no type is coerced from another
    model_config = ConfigDict(extra="forbid", strict=True)


# requests -----------------------------------------------------------------------------
class Pair(_Body):
    user: RawId
    item: RawId
    timestamp: Annotated[float, Field(strict=False, allow_inf_nan=False)] | None = Field(
        None, description="When to predict the pair (seconds, as the training ratings' "
        "timestamps), for a model with a time group; without it, a new time bin.")


class PredictIn(_Body):
    pairs: Annotated[list[Pair], Field(min_length=1, max_length=MAX_PAIRS)]
    clip: bool | None = Field(None, description="true: bound predictions to the training "
                              "rating range; false: the raw values; null or left out: the "
                              "model's default (bounded when its predictions are ratings).")


class ItemRating(_Body):
    item: RawId
    rating: Rating


class FoldInIn(_Body):
    ratings: Annotated[list[ItemRating], Field(min_length=1, max_length=MAX_FOLD_IN,
                                               description="The new user's ratings, each "
                                               "item at most once (422 otherwise).")]
    n: Annotated[int, Field(ge=1, description="How many items (capped like ?n=)."), Whole] = 10
    exclude_seen: bool = Field(True, description="Leave out the items rated here.")


# responses ----------------------------------------------------------------------------
class ScoredItem(BaseModel):
    item: RawId
    title: str | None
    score: float


class ScoredUser(BaseModel):
    user: RawId
    score: float


class CountedItem(BaseModel):
    item: RawId
    title: str | None
    n_ratings: int = Field(description="Ratings of this item in the training data.")


class CountedUser(BaseModel):
    user: RawId
    n_ratings: int = Field(description="Ratings by this user in the training data.")


class RecommendationsOut(BaseModel):
    user: RawId | None = Field(description="null for a new user (POST /recommendations).")
    items: list[ScoredItem]


class SimilarItemsOut(BaseModel):
    item: RawId
    title: str | None
    items: list[ScoredItem]


class SimilarUsersOut(BaseModel):
    user: RawId
    users: list[ScoredUser]


class UserItemsOut(BaseModel):
    user: RawId
    total: int = Field(description="How many items the user rated in training.")
    items: list[CountedItem]


class ItemSearchOut(BaseModel):
    total: int = Field(description="How many items match.")
    items: list[CountedItem]


class UserSearchOut(BaseModel):
    total: int = Field(description="How many users match.")
    users: list[CountedUser]


class Prediction(BaseModel):
    user: RawId
    item: RawId
    prediction: float


class PredictOut(BaseModel):
    predictions: list[Prediction]


class ReloadStatus(BaseModel):
    ok: bool
    at: str
    error: str | None


class HealthOut(BaseModel):
    status: str
    generation: int
    loaded_at: str
    last_reload: ReloadStatus | None
    max_n: int = Field(description="The largest n a request may ask for.")
    max_body: int = Field(description="The largest request body, in bytes.")


class ModelOut(BaseModel):
    algorithm: str
    params: dict = Field(description="The hyperparameters (they vary by algorithm).")
    n_users: int
    n_items: int
    n_ratings: int
    n_factors: int
    user_id_type: str
    item_id_type: str
    global_mean: float
    rating_range: list[float]
    training: dict
    history: list[dict]
    format_version: int
    library_version: str | None
    file: str
    generation: int
    loaded_at: str
    titles: bool


class ReloadOut(BaseModel):
    reloaded: bool
    model: ModelOut


class ErrorOut(BaseModel):
    detail: str
