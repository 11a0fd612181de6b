-- wrk script: POST /v1/matches with one personal number (a test number, flagged by bench.sh).
-- The API key comes from BENCH_KEY; bench.sh sets it.
local key = os.getenv("BENCH_KEY")
if key == nil or key == "" then
    error("BENCH_KEY is not set")
end
wrk.method = "POST"
wrk.path = "/v1/matches"
wrk.body = '{"purpose":"account_opening","identifiers":[{"kind":"se_personal_number","value":"19900101-0017"}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. key
