//! The demo organization: its accounts and their users with a story (the plan), and
//! creating it on the emulator (Organizations, OUs, seeded users, Access Advisor data).

use anyhow::Context;
use iam_janitor_harness::{AdvisorService, Emulator, STACKSETS_PRINCIPAL, SeedKey, SeedPassword, SeedUser};
use time::OffsetDateTime;

const ADMIN: &str = "arn:aws:iam::aws:policy/AdministratorAccess";
const POWER_USER: &str = "arn:aws:iam::aws:policy/PowerUserAccess";
const EXEMPT_TAG: (&str, &str) = (iam_janitor::trail::EXEMPT, iam_janitor::trail::EXEMPT_VALUE);

/// One account of the demo organization, before it exists.
pub(super) struct AccountPlan {
    name: &'static str,
    /// `None`: the management account, under the root.
    ou: Option<&'static str>,
    /// Each user, and what is special about it.
    users: Vec<(SeedUser, &'static str)>,
    advisor: Vec<(&'static str, Vec<AdvisorService>)>,
}

/// The demo organization.
pub(super) struct Organization {
    pub(super) id: String,
    /// The OUs, which hold every member account.
    pub(super) org_units: Vec<String>,
    pub(super) accounts: Vec<Account>,
}

/// An account of the demo organization.
#[derive(Debug, Clone)]
pub(super) struct Account {
    pub(super) name: &'static str,
    pub(super) id: String,
    pub(super) ou: &'static str,
    /// (user name, story)
    pub(super) users: Vec<(String, &'static str)>,
    pub(super) management: bool,
}

pub(super) fn plans(now: OffsetDateTime) -> Vec<AccountPlan> {
    // An hour into the day, so that whole-day idle times come out as written.
    let ago = |days: i64| now - time::Duration::days(days) - time::Duration::hours(1);
    let user = |name: &str, created: i64| SeedUser::new(name).created(ago(created));
    let key = |created: i64, used: Option<i64>| {
        let key = SeedKey::new().created(ago(created));
        match used {
            Some(days) => key.used(ago(days)),
            None => key,
        }
    };
    let password = |changed: i64, used: Option<i64>| {
        let password = SeedPassword::new().changed(ago(changed));
        match used {
            Some(days) => password.used(ago(days)),
            None => password,
        }
    };
    let service = |namespace: &str, name: &str, used: Option<i64>| AdvisorService::new(namespace, name, used.map(ago));
    vec![
        AccountPlan {
            name: "management",
            ou: None,
            users: vec![
                (
                    user("break-glass", 900)
                        .tag(EXEMPT_TAG.0, EXEMPT_TAG.1)
                        .with_policy(ADMIN)
                        .with_password(password(400, Some(300))),
                    "admin for emergencies, tagged iam-janitor:exempt=true; console unused for 300 days",
                ),
                (
                    user("alice", 700)
                        .with_policy(ADMIN)
                        .with_password(password(60, Some(1)))
                        .with_key(key(200, Some(0))),
                    "admin, signed in yesterday, key used today, uses the services she has",
                ),
                (
                    user("ci-legacy", 800).with_key(key(400, None)),
                    "access key created 400 days ago, never used",
                ),
            ],
            advisor: vec![(
                "alice",
                vec![
                    service("iam", "AWS Identity and Access Management", Some(1)),
                    service("s3", "Amazon S3", Some(2)),
                    service("ec2", "Amazon EC2", Some(5)),
                ],
            )],
        },
        AccountPlan {
            name: "prod",
            ou: Some("workloads"),
            users: vec![
                (
                    user("deploy-bot", 600)
                        .with_key(key(500, Some(200)))
                        .with_key(key(10, Some(0))),
                    "two keys: the old one unused for 200 days, the new one (10 days) used today",
                ),
                (
                    user("bob", 700).with_password(password(365, Some(150))),
                    "console password last used 150 days ago",
                ),
                (
                    user("carol", 500)
                        .with_password(password(30, Some(2)))
                        .with_key(key(100, Some(1))),
                    "active: console 2 days ago, key yesterday",
                ),
                (
                    user("erin", 400).with_key(key(300, Some(82))),
                    "key last used 82 days ago: dormant in 9 days",
                ),
            ],
            advisor: Vec::new(),
        },
        AccountPlan {
            name: "analytics",
            ou: Some("workloads"),
            users: vec![
                (
                    user("dana", 400)
                        .with_policy(ADMIN)
                        .with_password(password(90, Some(1))),
                    "AdministratorAccess, active, but uses only S3, Athena, Glue and IAM",
                ),
                (
                    user("etl-runner", 500).with_key(key(450, Some(120))),
                    "key last used 120 days ago",
                ),
                (
                    user("report-reader", 300).with_key(key(200, None)),
                    "key created 200 days ago, never used",
                ),
            ],
            advisor: vec![(
                "dana",
                vec![
                    service("s3", "Amazon S3", Some(2)),
                    service("athena", "Amazon Athena", Some(3)),
                    service("glue", "AWS Glue", Some(20)),
                    service("iam", "AWS Identity and Access Management", Some(30)),
                    service("rds", "Amazon RDS", Some(200)),
                    service("ec2", "Amazon EC2", None),
                    service("dynamodb", "Amazon DynamoDB", None),
                    service("lambda", "AWS Lambda", None),
                ],
            )],
        },
        AccountPlan {
            name: "sandbox",
            ou: Some("sandbox"),
            users: vec![
                (
                    user("intern", 5)
                        .with_policy(POWER_USER)
                        .with_password(password(5, None)),
                    "joined 5 days ago, PowerUserAccess, nothing used yet (grace)",
                ),
                (
                    user("frank", 400).with_password(password(200, None)),
                    "console password set 200 days ago, never used",
                ),
                (
                    user("gina", 300).with_key(key(250, Some(3))),
                    "active: key used 3 days ago",
                ),
            ],
            advisor: vec![(
                "intern",
                vec![
                    service("s3", "Amazon S3", None),
                    service("ec2", "Amazon EC2", None),
                    service("sagemaker", "Amazon SageMaker", None),
                ],
            )],
        },
    ]
}

/// The organization, its OUs, the member accounts moved into them, trusted access for
/// StackSets; then every account's users.
pub(super) async fn create_organization(emu: &Emulator, plans: Vec<AccountPlan>) -> anyhow::Result<Organization> {
    let mut builder = iam_janitor_harness::Organization::builder().trusted_access(STACKSETS_PRINCIPAL);
    for plan in &plans {
        if let Some(ou) = plan.ou {
            builder = builder.account(plan.name, ou);
        }
    }
    let org = builder.create(emu).await.context("creating the demo organization")?;
    let mut accounts = Vec::new();
    for plan in plans {
        let (id, ou) = match plan.ou {
            None => (org.management_account.clone(), "root"),
            Some(ou) => (
                org.account_id(plan.name)
                    .with_context(|| format!("no account {}", plan.name))?
                    .to_string(),
                ou,
            ),
        };
        let users: Vec<SeedUser> = plan.users.iter().map(|(user, _)| user.clone()).collect();
        emu.seed_in(&id, &users)
            .await
            .with_context(|| format!("seeding the users of {} ({id})", plan.name))?;
        for (user, services) in &plan.advisor {
            emu.set_access_advisor_in(&id, user, services)
                .await
                .with_context(|| format!("setting Access Advisor data of {user} in {id}"))?;
        }
        accounts.push(Account {
            name: plan.name,
            id,
            ou,
            users: plan
                .users
                .iter()
                .map(|(user, story)| (user.name.clone(), *story))
                .collect(),
            management: plan.ou.is_none(),
        });
    }
    Ok(Organization {
        id: org.id,
        org_units: org.org_units.into_values().collect(),
        accounts,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn every_story_is_told() {
        let plans = plans(OffsetDateTime::now_utc());
        assert!(plans.iter().filter(|p| p.ou.is_none()).count() == 1);
        assert!(plans.iter().filter(|p| p.ou.is_some()).count() >= 3);
        let ous: std::collections::BTreeSet<_> = plans.iter().filter_map(|p| p.ou).collect();
        assert_eq!(ous.len(), 2);
        let users: Vec<&SeedUser> = plans.iter().flat_map(|p| &p.users).map(|(user, _)| user).collect();
        assert!(
            users
                .iter()
                .any(|u| u.tags.get(EXEMPT_TAG.0).map(String::as_str) == Some("true"))
        );
        assert!(users.iter().any(|u| u.keys.len() == 2));
        assert!(users.iter().any(|u| u.managed_policy_arns.iter().any(|p| p == ADMIN)));
        assert!(plans.iter().all(|p| !p.users.is_empty()));
    }
}
