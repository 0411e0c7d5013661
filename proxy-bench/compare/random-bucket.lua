-- wrk script of compare.sh's canary-50-split target. Every request carries a
-- cp_bucket cookie (0..9999) from a fixed pseudo-random sequence, so that a 50 %
-- canary sends about half of them to each release: returning users, as opposed
-- to wrk's cookieless requests, which canary-proxy routes by the client address
-- (one address here, so one release) and answers with a Set-Cookie.
-- The requests are built once in init(), so that wrk formats nothing per request.

local requests = {}
local i = 0

function init(args)
    math.randomseed(42)
    for n = 1, 1000 do
        requests[n] = wrk.format(nil, nil, { ["Cookie"] = "cp_bucket=" .. math.random(0, 9999) })
    end
end

function request()
    i = i % #requests + 1
    return requests[i]
end
