//! Who performs an operation, and what they may do to an order. The order itself knows
//! nothing of callers; the use cases ask the actor.

use super::{Permission, UserId};

/// The caller of an operation, as the bearer token names them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub user_id: UserId,
    pub is_admin: bool,
}

impl Actor {
    pub fn may_access(&self, order_owner: &UserId) -> bool {
        self.is_admin || &self.user_id == order_owner
    }

    pub fn may_perform(&self, permission: Permission, order_owner: &UserId) -> bool {
        match permission {
            Permission::AdminOnly => self.is_admin,
            Permission::OwnerOrAdmin => self.may_access(order_owner),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(user: &str, is_admin: bool) -> Actor {
        Actor {
            user_id: UserId::parse(user).unwrap(),
            is_admin,
        }
    }

    #[test]
    fn owners_and_admins_may_access_others_may_not() {
        let owner = UserId::parse("user-1").unwrap();
        assert!(actor("user-1", false).may_access(&owner));
        assert!(actor("admin-1", true).may_access(&owner));
        assert!(!actor("user-2", false).may_access(&owner));
        assert!(!actor("user-1", false).may_perform(Permission::AdminOnly, &owner));
        assert!(actor("user-1", false).may_perform(Permission::OwnerOrAdmin, &owner));
    }
}
