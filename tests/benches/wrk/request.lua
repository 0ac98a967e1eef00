-- The request every connection repeats, from the environment the harness sets:
-- BENCH_METHOD (default GET), BENCH_TOKEN (a bearer access token), BENCH_BODY (JSON).
wrk.method = os.getenv("BENCH_METHOD") or "GET"
local token = os.getenv("BENCH_TOKEN")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
local body = os.getenv("BENCH_BODY")
if body and body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end
