-- wrk script: POST /v1/matches with BENCH_BATCH identifiers per request (default 10): the
-- flagged test personal number, then phones, e-mails and device ids, all distinct within the
-- request and the same in every request (re-checking a person costs no daily budget).
local key = os.getenv("BENCH_KEY")
if key == nil or key == "" then
    error("BENCH_KEY is not set")
end
local n = tonumber(os.getenv("BENCH_BATCH") or "10")
local ids = { '{"kind":"se_personal_number","value":"19900101-0017"}' }
for i = 2, n do
    local k = i % 3
    if k == 0 then
        ids[#ids + 1] = string.format('{"kind":"phone","value":"+467012%05d"}', i)
    elseif k == 1 then
        ids[#ids + 1] = string.format('{"kind":"email","value":"customer%d@example.se"}', i)
    else
        ids[#ids + 1] = string.format('{"kind":"device_id","value":"bench-device-%d"}', i)
    end
end
wrk.method = "POST"
wrk.path = "/v1/matches"
wrk.body = '{"purpose":"account_opening","identifiers":[' .. table.concat(ids, ",") .. ']}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. key
