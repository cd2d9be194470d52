"""Clients of the payment providers (WeChat Pay v3 as an e-commerce platform, Alipay OpenAPI with royalty settlement),
shared by the services that own the aggregates they call the providers for: payment (payments, refunds) and wallet
(onboarding, profit sharing and settlement, balances, withdrawals). docs/providers.md has the facts they follow."""
