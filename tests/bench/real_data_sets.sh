# The real data sets' columns as petra's tools take them (sourced by tests/bench/real_data.sh
# and tests/bench/cores.sh; $top is the source tree). set_NAME sets: spec (the config's
# model.spec), conf, ent (entity column), labcol, at (the label time: --as-of), ev and lb (the
# prepared files' stems), cols (column flags), feat (feature flags), rawt (--transform for the
# hand-scaled copy).
set_uci() {
  spec=$(sed -n 's/^model.spec = //p' "$top/configs/credit-default.conf")
  conf=$top/configs/credit-default.conf ent=client labcol=default at=2005-10-01 ev=uci-events lb=uci-labels
  cols=(--entity client --time time --amount bill
        --categorical pay_status=pay_status,sex=sex,education=education,marriage=marriage
        --numeric pay_amt,limit_bal,age)
  feat=(--categories pay_status=vocab,sex=vocab,education=vocab,marriage=vocab)
  rawt="amount=raw,gap=log,pay_amt=raw,limit_bal=raw,age=raw"
}
set_cdnow() {
  spec=$(sed -n 's/^model.spec = //p' "$top/configs/cdnow.conf")
  conf=$top/configs/cdnow.conf ent=customer labcol=buys_again at=1997-09-30 ev=cdnow-events lb=cdnow-labels
  cols=(--entity customer --time time --amount dollars --numeric cds)
  feat=(--event-age)
  rawt="amount=raw,gap=log,cds=raw"
}
