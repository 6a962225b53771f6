"""Money is conserved to the centi-cent across random order flow, through settlement."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from simfakes import T0, TICKER, exchange_with_market, req

from kalshid.sim.counts import format_count, notional_cc
from kalshid.sim.model import ExchangeError

USERS = ("a", "b", "c")

op = st.one_of(
    st.tuples(
        st.just("place"),
        st.sampled_from(USERS),
        st.sampled_from(["yes", "no"]),
        st.sampled_from(["buy", "buy", "sell"]),
        st.integers(1, 2000),  # hundredths of a contract: fractional flow
        st.integers(1, 99),
        st.sampled_from([None, "immediate_or_cancel", "fill_or_kill"]),
    ),
    st.tuples(st.just("cancel"), st.sampled_from(USERS), st.integers(0, 50)),
    st.tuples(st.just("decrease"), st.sampled_from(USERS), st.integers(0, 50), st.integers(1, 500)),
    st.tuples(st.just("amend"), st.sampled_from(USERS), st.integers(0, 50), st.integers(1, 99)),
)


def _check(ex) -> None:  # type: ignore[no-untyped-def]
    assert ex.conservation_gap_cc() == 0
    yes = sum(a.position(TICKER).yes for a in ex.accounts.values())
    no = sum(a.position(TICKER).no for a in ex.accounts.values())
    assert yes == no == ex.markets[TICKER].open_interest
    for acct in ex.accounts.values():
        assert 0 <= acct.reserved_cc <= acct.cash_cc
        resting = [o for o in ex.orders.values() if o.user_id == acct.user_id and o.status == "resting"]
        assert acct.reserved_cc == sum(notional_cc(o.remaining_count, o.price_cc) for o in resting if o.action == "buy")
        for side in ("yes", "no"):
            assert acct.sellable(TICKER, side) >= 0
    book = ex.books[TICKER]
    assert book.total_size("yes") + book.total_size("no") == sum(
        o.remaining_count for o in ex.orders.values() if o.status == "resting"
    )


@settings(max_examples=150, deadline=None)
@given(st.lists(op, max_size=60), st.booleans())
def test_random_flow_conserves_money(ops: list[tuple], result_yes: bool) -> None:  # type: ignore[type-arg]
    ex = exchange_with_market(*((u, 50) for u in USERS))
    now = T0
    for item in ops:
        now += 0.5
        try:
            if item[0] == "place":
                _, user, side, action, count, cents, tif = item
                ex.place_order(user, req(side, action, format_count(count), cents, time_in_force=tif), now)
            else:
                ids = sorted(o.order_id for o in ex.orders.values() if o.user_id == item[1])
                if not ids:
                    continue
                oid = ids[item[2] % len(ids)]
                if item[0] == "cancel":
                    ex.cancel_order(item[1], oid, now)
                elif item[0] == "decrease":
                    ex.decrease_order(item[1], oid, reduce_by=item[3], now=now)
                else:
                    o = ex.orders[oid]
                    ex.amend_order(
                        item[1],
                        oid,
                        ticker=o.ticker,
                        side=o.side,
                        action=o.action,
                        price_cc=item[3] * 100,
                        count=None,
                        updated_client_order_id=None,
                        now=now,
                    )
        except ExchangeError as exc:
            assert exc.status in (400, 404, 409)
        _check(ex)
    ex.close_market(TICKER, now + 1)
    ex.determine_market(TICKER, Decimal("151") if result_yes else Decimal("149"), now + 1)
    ex.settle_market(TICKER, now + 61)
    assert ex.conservation_gap_cc() == 0
    assert ex.markets[TICKER].open_interest == 0
    total_cash = sum(a.cash_cc for a in ex.accounts.values())
    assert total_cash + ex.fees_collected_cc == ex.deposits_cc
    for acct in ex.accounts.values():
        assert acct.reserved_cc == 0
        pos = acct.position(TICKER)
        assert pos.yes == pos.no == 0
        # P&L identity: every dollar gained or lost shows up in realized P&L (fees included)
        assert acct.cash_cc - 50 * 10_000 == pos.realized_pnl_cc
