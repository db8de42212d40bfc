"""Filter support: PostgreSQL functions that read values the way the filter language does.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

The filter compiler (``spanscope.store.sql.filter_sql``) reads assessment values, root
inputs/outputs and span attributes as JSON, with the meaning ``spanscope.query.values``
defines (``text_of``, ``number_of``). SQLite gets those as Python functions registered on
each connection; PostgreSQL gets these PL/pgSQL functions. They never raise: text that is
not JSON reads as a string (like ``loads_attribute``), numbers too large for a double read
as no number (Python: ``inf``), and JSON PostgreSQL cannot turn into text (``\\u0000``)
reads as missing. Nothing changes on SQLite.
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_FUNCTIONS = {
    # number_of(str): NUMERIC_TEXT_PATTERN, then float(); inf -> NULL, underflow -> 0.
    "spanscope_number(text)": r"""
CREATE OR REPLACE FUNCTION spanscope_number(t text) RETURNS double precision
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
DECLARE
    mantissa text;
    int_part text;
    frac_part text;
    magnitude numeric;
BEGIN
    IF t !~ '^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$' THEN
        RETURN NULL;
    END IF;
    BEGIN
        RETURN t::double precision;
    EXCEPTION WHEN numeric_value_out_of_range THEN
        NULL;  -- too large or too small for a double: decide which below
    END;
    mantissa := ltrim(split_part(lower(t), 'e', 1), '+-');
    magnitude := coalesce(nullif(split_part(lower(t), 'e', 2), '')::numeric, 0);
    int_part := ltrim(split_part(mantissa, '.', 1), '0');
    frac_part := split_part(mantissa, '.', 2);
    IF int_part <> '' THEN
        magnitude := magnitude + length(int_part);
    ELSE
        magnitude := magnitude - (length(frac_part) - length(ltrim(frac_part, '0')));
    END IF;
    IF magnitude > 0 THEN
        RETURN NULL;  -- Python's float() gives inf, which is no number
    END IF;
    RETURN 0;  -- Python's float() underflows to 0.0
END
$fn$""",
    # loads_attribute: JSON text to JSON; anything else is that text as a JSON string.
    "spanscope_loads(text)": r"""
CREATE OR REPLACE FUNCTION spanscope_loads(raw text) RETURNS json
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
BEGIN
    RETURN raw::json;
EXCEPTION WHEN others THEN
    RETURN to_json(raw);
END
$fn$""",
    # One step per element: '#N' indexes a list, 'kKEY' reads an object key.
    "spanscope_json_path(json, text[])": r"""
CREATE OR REPLACE FUNCTION spanscope_json_path(j json, steps text[]) RETURNS json
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
DECLARE
    step text;
BEGIN
    FOREACH step IN ARRAY steps LOOP
        IF j IS NULL THEN
            RETURN NULL;
        END IF;
        IF left(step, 1) = '#' THEN
            j := j -> substr(step, 2)::int;
        ELSE
            j := j -> substr(step, 2);
        END IF;
    END LOOP;
    RETURN j;
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$fn$""",
    # text_of: strings as they are, null is missing, anything else its JSON text.
    "spanscope_json_text(json)": r"""
CREATE OR REPLACE FUNCTION spanscope_json_text(j json) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
BEGIN
    CASE json_typeof(j)
        WHEN 'null' THEN RETURN NULL;
        WHEN 'string' THEN RETURN j #>> '{}';
        ELSE RETURN btrim(j::text, E' \t\n\r');
    END CASE;
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$fn$""",
    # number_of: JSON numbers (an integer too large for a double compares as +/- inf, as
    # Python compares the exact integer) and numeric-looking strings.
    "spanscope_json_number(json)": r"""
CREATE OR REPLACE FUNCTION spanscope_json_number(j json) RETURNS double precision
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
DECLARE
    t text;
    n double precision;
BEGIN
    CASE json_typeof(j)
        WHEN 'number' THEN
            t := btrim(j::text, E' \t\n\r');
            n := spanscope_number(t);
            IF n IS NULL AND t ~ '^-?[0-9]+$' THEN
                RETURN CASE WHEN left(t, 1) = '-' THEN '-Infinity'::double precision
                            ELSE 'Infinity'::double precision END;
            END IF;
            RETURN n;
        WHEN 'string' THEN RETURN spanscope_number(j #>> '{}');
        ELSE RETURN NULL;
    END CASE;
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$fn$""",
    # The raw (JSON-encoded) value of one attribute in a span's stored JSON.
    "spanscope_span_attribute(text, text)": r"""
CREATE OR REPLACE FUNCTION spanscope_span_attribute(content text, key text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
BEGIN
    RETURN json_extract_path_text(content::json, 'attributes', key);
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$fn$""",
}


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    for ddl in _FUNCTIONS.values():
        op.execute(ddl)


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    for signature in reversed(list(_FUNCTIONS)):
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")
