"""The read-only SQL guard's decisions on parsed trees, without Spark: the allow-list is data,
the check is pure Python over PlanNode trees (any parser can build them)."""

import pytest

from sparkw2v.sql import (READ_ONLY_FUNCTIONS, REFUSED_FUNCTIONS, PlanNode, QueryRefused, check_tree,
                          function_refusal)


def call(*name, args=()):
    return PlanNode("UnresolvedFunction", False, tuple(name), tuple(args))


def select(*expressions, source=None):
    """SELECT expressions FROM source (a plan node; default: one row)."""
    return PlanNode("Project", True, (), tuple(expressions) + (source or PlanNode("OneRowRelation", True),))


def table(*name):
    return PlanNode("UnresolvedRelation", True, tuple(name))


def test_every_group_has_a_reason_and_no_name_is_both_allowed_and_refused():
    allowed = set()
    for group, (reason, names) in READ_ONLY_FUNCTIONS.items():
        assert reason.strip() and names, group
        assert all(n == n.lower() and n.isascii() for n in names), group
        allowed |= names
    for group, (reason, names) in REFUSED_FUNCTIONS.items():
        assert reason.strip() and names, group
        assert not names & allowed, (group, names & allowed)


@pytest.mark.parametrize("name", ["reflect", "java_method", "try_reflect", "REFLECT", "Java_Method",
                                  "input_file_name", "from_protobuf", "xpath", "current_user",
                                  "python_worker_logs", "aes_decrypt"])
def test_the_refused_families_are_refused_whatever_the_case(name):
    why = function_refusal((name,))
    assert why and "is refused: it" in why, why


@pytest.mark.parametrize("parts", [("system", "builtin", "reflect"), ("builtin", "abs"), ("spark_catalog", "default", "f"),
                                   ("db", "w2v_cosine")])
def test_a_qualified_name_is_refused_even_for_an_allowed_function(parts):
    assert "is qualified" in function_refusal(parts)


@pytest.mark.parametrize("name", ["my_new_function", "hll_sketch_agg", "parse_json", "st_srid", "ab s", "",
                                  "ran\u212ak"])  # KELVIN SIGN lower-cases to "k": "rank" in disguise
def test_a_function_not_on_the_list_is_refused_by_default(name):
    assert "is not one of the functions" in function_refusal((name,))


@pytest.mark.parametrize("name", ["abs", "ABS", "w2v_cosine", "W2V_Neighbors", "vector_cosine_similarity",
                                  "explode", "count", "row_number", "transform", "raise_error"])
def test_allowed_functions_pass_whatever_the_case(name):
    assert function_refusal((name,)) is None
    check_tree(select(call(name)))


def test_a_refused_call_is_found_at_any_depth():
    deep = call("abs", args=[call("transform", args=[PlanNode("LambdaFunction", False, (), (call("reflect"),))])])
    subquery = PlanNode("ScalarSubquery", False, (), (select(deep, source=table("vocab")),))
    with pytest.raises(QueryRefused, match="'reflect' is refused"):
        check_tree(PlanNode("Sort", True, (), (PlanNode("SortOrder", False, (), (subquery,)), select(source=table("vocab")))))


def test_generators_and_table_functions_are_checked_by_name():
    generate = PlanNode("Generate", True, (), (PlanNode("UnresolvedGenerator", False, ("java_method",)), table("vocab")))
    with pytest.raises(QueryRefused, match="java_method"):
        check_tree(select(source=generate))
    tvf = PlanNode("UnresolvedTableValuedFunction", True, ("w2v_neighbors",), (call("try_reflect"),))
    with pytest.raises(QueryRefused, match="try_reflect"):
        check_tree(select(source=tvf))
    with pytest.raises(QueryRefused, match="table function 'python_worker_logs'"):
        check_tree(select(source=PlanNode("UnresolvedTableValuedFunction", True, ("python_worker_logs",))))
    check_tree(select(source=PlanNode("UnresolvedTableValuedFunction", True, ("W2V_NEIGHBORS",), (call("lower"),))))


def test_with_names_are_in_scope_only_after_their_definition():
    def with_(names, definitions, body):
        return PlanNode("UnresolvedWith", True, tuple(names), tuple(definitions) + (body,))

    # WITH a AS (SELECT 1), b AS (SELECT * FROM a) SELECT * FROM b JOIN a
    check_tree(with_(["a", "b"], [select(), select(source=table("a"))],
                     PlanNode("Join", True, (), (table("b"), table("A")))))
    # WITH a AS (SELECT * FROM b), b AS (...): the b inside a is a catalog table, not the WITH's
    with pytest.raises(QueryRefused, match="table 'b' is not one of the views"):
        check_tree(with_(["a", "b"], [select(source=table("b")), select()], select(source=table("a"))))
    # a WITH name is not in scope outside its query
    inner = with_(["x"], [select()], select(source=table("x")))
    with pytest.raises(QueryRefused, match="table 'x'"):
        check_tree(PlanNode("Join", True, (), (PlanNode("SubqueryAlias", True, (), (inner,)), table("x"))))


@pytest.mark.parametrize("node, message", [
    (PlanNode("InsertIntoStatement", True), "InsertIntoStatement is not a read-only query operation"),
    (PlanNode("CreateFunctionCommand", True), "CreateFunctionCommand is not a read-only"),
    (select(PlanNode("ExpressionWithUnresolvedIdentifier", False, (), (call("lower"),))), "IDENTIFIER"),
    (select(source=table("default", "secrets")), "table 'default.secrets' is not one of the views"),
    (select(PlanNode("UnresolvedAttribute", False, ("CURRENT_USER",))), "is the function current_user(), refused"),
])
def test_commands_identifiers_other_tables_and_bare_calls_are_refused(node, message):
    with pytest.raises(QueryRefused, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_tree(node)


def test_a_column_reference_is_not_a_call():
    check_tree(select(PlanNode("UnresolvedAttribute", False, ("v", "user_count")), source=table("vocab")))
