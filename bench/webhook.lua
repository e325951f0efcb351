-- wrk script: POST a VictorOps webhook (t/fixtures/victorops/flat-triggered.json)
-- with a distinct entity id and incident number per request, so duplicate
-- suppression never answers "duplicate" and no two jobs share an incident.
--
-- Environment:
--   BENCH_FIXTURE     the fixture file (required)
--   BENCH_PAD         pad ALERT.state_message so the body is exactly this
--                     many bytes (0: the fixture as is, about 1.3 KB)
--   BENCH_SECRET      webhook secret (X-Webhook-Secret header)
--   BENCH_PREFIX      prefix of the entity ids (distinct per run)
--   BENCH_STOP_AFTER  stop after this many webhook requests in all
--                     (0: run for the -d duration); extra requests go to
--                     GET / so the count of jobs stays exact
--   BENCH_ENTITY      "same": every webhook carries the same entity id
--                     (distinct incident numbers: a flapping check)
--   BENCH_RATE        requests/s for all connections together (0: as fast
--                     as answers come); each connection waits
--                     connections/rate between its requests
--
-- The same script drives the baseline location (return 202), so both sides
-- of the ratio pay the same client cost.  done() prints one line:
--   BENCH requests=.. duration_us=.. rps=.. p50_us=.. p99_us=.. ...

local threads = {}
local nthreads = 0

function setup(thread)
    nthreads = nthreads + 1
    thread:set("tid", nthreads)
    table.insert(threads, thread)
end

local parts, sent, responses, limit, stop_after, same_entity, wait_ms

local function read_file(path)
    local f = assert(io.open(path, "rb"))
    local s = f:read("*a")
    f:close()
    return s
end

function init(args)
    local body = read_file(os.getenv("BENCH_FIXTURE"))
    local pad = tonumber(os.getenv("BENCH_PAD") or "0") or 0
    local prefix = os.getenv("BENCH_PREFIX") or "b"

    -- placeholders: @ID@ (entity id, twice) and @N@ (incident number)
    body = body:gsub('"checkout%-api/latency%-p99"', '"bench/@ID@"')
    body = body:gsub('"INCIDENT.INCIDENT_ID": "1842"', '"INCIDENT.INCIDENT_ID": "@N@"')
    body = body:gsub('"STATE.INCIDENT_NAME": "1842"', '"STATE.INCIDENT_NAME": "@N@"')

    if pad > 0 then
        -- the length of a rendered id is fixed: prefix-tid-%010d
        local idlen = #(prefix .. "-" .. tid .. "-") + 10
        local nlen = 10
        local base = #body - 2 * #"@ID@" + 2 * idlen - 2 * #"@N@" + 2 * nlen
        local fill = pad - base
        if fill > 0 then
            body = body:gsub('(in us%-east%-1)"', "%1 " .. string.rep("x", fill - 1) .. '"')
        end
    end

    -- split into literal pieces around the placeholders
    parts = {}
    local pos = 1
    while true do
        local s, e, what = body:find("@(%u+)@", pos)
        if not s then
            table.insert(parts, body:sub(pos))
            break
        end
        table.insert(parts, body:sub(pos, s - 1))
        table.insert(parts, what)
        pos = e + 1
    end

    idprefix = prefix .. "-" .. tid .. "-"
    sent = 0
    responses = 0
    stop_after = tonumber(os.getenv("BENCH_STOP_AFTER") or "0") or 0
    if stop_after > 0 then
        -- share the total among the threads (threads run the same script)
        limit = math.floor(stop_after / nthreads_total())
        if tid <= stop_after % nthreads_total() then limit = limit + 1 end
    end

    same_entity = os.getenv("BENCH_ENTITY") == "same"
    local rate = tonumber(os.getenv("BENCH_RATE") or "0") or 0
    local conns = tonumber(os.getenv("BENCH_CONNS") or "1") or 1
    if rate > 0 then
        wait_ms = conns * 1000 / rate
    end

    headers = {
        ["Content-Type"] = "application/json",
        ["X-Webhook-Secret"] = os.getenv("BENCH_SECRET") or "s3cret",
    }
end

function nthreads_total()
    return tonumber(os.getenv("BENCH_THREADS") or "1") or 1
end

local function render(n)
    local id = same_entity and (idprefix .. "same")
               or idprefix .. string.format("%010d", n)
    local num = string.format("%010d", n)
    local out = {}
    for i, p in ipairs(parts) do
        if p == "ID" then out[i] = id
        elseif p == "N" then out[i] = num
        else out[i] = p end
    end
    return table.concat(out)
end

function request()
    if limit and sent >= limit then
        return wrk.format("GET", "/", {})
    end
    sent = sent + 1
    return wrk.format("POST", nil, headers, render(sent))
end

function delay()
    return wait_ms or 0
end

function response(status, hdrs, body)
    if limit then
        responses = responses + 1
        if responses >= limit then
            wrk.thread:stop()
        end
    end
end

function done(summary, latency, requests)
    local e = summary.errors
    local secs = summary.duration / 1e6
    io.write(string.format(
        "BENCH requests=%d duration_us=%d rps=%.1f p50_us=%d p99_us=%d mean_us=%.1f max_us=%d non2xx=%d errors=%d\n",
        summary.requests, summary.duration, summary.requests / secs,
        latency:percentile(50), latency:percentile(99), latency.mean,
        latency.max, e.status, e.connect + e.read + e.write + e.timeout))
end
