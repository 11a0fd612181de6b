-- wrk script: POST /v1/matches with one random valid personal number per request, so every
-- audit entry lands on a random place in the subject index (a person checked again is the
-- exception, as in production). The API key comes from BENCH_KEY.
local key = os.getenv("BENCH_KEY")
if key == nil or key == "" then
    error("BENCH_KEY is not set")
end

-- The Luhn check digit over the ten digits YYMMDDNNN.
local function check_digit(nine)
    local sum = 0
    for i = 1, 9 do
        local d = tonumber(nine:sub(i, i)) * (i % 2 == 1 and 2 or 1)
        sum = sum + (d > 9 and d - 9 or d)
    end
    return (10 - sum % 10) % 10
end

math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))

request = function()
    -- Serial 000 is never issued, and the hub refuses it (422).
    local y = math.random(1940, 2005)
    local body = string.format("%02d%02d%02d%03d", y % 100, math.random(1, 12), math.random(1, 28), math.random(1, 999))
    local pn = string.format("%d%s-%s%d", math.floor(y / 100), body:sub(1, 6), body:sub(7, 9), check_digit(body))
    return wrk.format("POST", "/v1/matches", {
        ["Content-Type"] = "application/json",
        ["Authorization"] = "Bearer " .. key,
    }, '{"purpose":"account_opening","identifiers":[{"kind":"se_personal_number","value":"' .. pn .. '"}]}')
end
